"""The utility levers of ``secagg train``: full participation, server averaging and momentum, the
popularity prior with head items, feature-initialised items; their bad input."""

from __future__ import annotations

import json

import numpy as np
import pytest

from secagg.cli import main
from secagg.errors import ConfigError
from secagg.rec.client import LocalConfig
from secagg.rec.optim import FedAvg
from secagg.rec.train import FederatedConfig, FederatedTrainer, feature_factors

SMALL = ["train", "--data", "synthetic", "--rounds", "2", "--clients-per-round", "20", "--local-epochs", "1",
         "--factors", "4", "--seed", "1", "--eval-every", "2", "--no-progress", "--aggregator", "plain"]


@pytest.mark.parametrize("extra, message", [
    (["--prior-weight", "2"], "--prior-weight needs --prior-epsilon"),
    (["--head-items", "10", "--prior-cap", "4"], "need --prior-epsilon"),
    (["--prior-epsilon", "1", "--prior-weight", "-1"], "prior weight"),
    (["--prior-epsilon", "1", "--head-items", "100000"], "head_items"),
    (["--prior-epsilon", "0"], "epsilon must be > 0"),
    (["--server-momentum", "1.0"], "momentum"),
    (["--server-momentum", "0.5", "--server-optimizer", "fedadam"], "fedavg"),
    (["--participation", "full", "--sampling-rate", "0.2"], "--sampling-rate"),
    (["--item-init", "features"], "u.item"),
    (["--prior-epsilon", "inf", "--epsilon", "8"], "no noise"),
    (["--prior-epsilon", "2", "--epsilon", "8", "--dp-sampling", "cyclic"], "cyclic"),
])
def test_bad_lever_input_is_a_clean_error_before_training(tmp_path, capsys, extra, message):
    if "--epsilon" in extra:
        pytest.importorskip("dp_accounting")
    out = tmp_path / "bad"
    assert main([*SMALL, "--output", str(out), *extra]) == 2
    err = capsys.readouterr().err
    assert err.startswith("secagg: error: ") and message in err and err.count("\n") == 1
    assert not out.exists()


@pytest.mark.parametrize("choice", ["--participation", "--server-average", "--item-init"])
def test_unknown_choices_are_refused(tmp_path, choice):
    with pytest.raises(SystemExit) as exc:
        main([*SMALL, "--output", str(tmp_path / "x"), choice, "bogus"])
    assert exc.value.code == 2


def test_levers_reach_the_run(tmp_path):
    out = tmp_path / "run"
    assert main([*SMALL, "--output", str(out), "--participation", "full", "--server-average", "expected",
                 "--server-momentum", "0.5", "--server-lr", "1", "--prior-epsilon", "inf",
                 "--prior-weight", "0.5", "--head-items", "30"]) == 0
    doc = json.loads((out / "metrics.json").read_text())
    cfg = FederatedConfig.from_dict(doc["config"])
    assert cfg.clients_per_round == doc["data"]["users"]  # every user with training data
    assert all(r["sampled"] == cfg.clients_per_round for r in doc["rounds"])
    assert cfg.optimizer_options == {"momentum": 0.5} and cfg.server_average == "expected"
    assert cfg.prior is not None and cfg.prior.head_items == 30 and cfg.prior.weight == 0.5


def test_full_participation_dp_has_equal_epsilons(tmp_path):
    pytest.importorskip("dp_accounting")
    out = tmp_path / "run"
    assert main([*SMALL, "--output", str(out), "--participation", "full", "--epsilon", "8",
                 "--prior-epsilon", "2", "--head-items", "30", "--server-lr", "1"]) == 0
    privacy = json.loads((out / "metrics.json").read_text())["privacy"]
    assert privacy["sampling_probability"] == 1.0
    assert privacy["epsilon_release"] <= 8.0 * (1 + 1e-9)
    assert privacy["epsilon_server"] == pytest.approx(privacy["epsilon_release"], rel=1e-9)
    assert len(privacy["prior_releases"]) == 1 and privacy["rounds_charged"] == 3


def test_fedavg_momentum_accumulates_and_checkpoints():
    opt = FedAvg(server_lr=2.0, momentum=0.5)
    one = np.ones(3)
    assert opt.step(one).tolist() == [2.0] * 3
    assert opt.step(one).tolist() == [3.0] * 3  # 2 * (0.5 * 1 + 1)
    state = opt.state_dict()
    other = FedAvg(server_lr=2.0, momentum=0.5)
    other.load_state_dict(state)
    assert other.step(one).tolist() == opt.step(one).tolist()
    assert FedAvg().state_dict() == {}
    for bad in (-0.1, 1.0, True):
        with pytest.raises(ConfigError):
            FedAvg(momentum=bad)


@pytest.mark.parametrize("field, value", [("server_average", "mean"), ("item_init", "genres"), ("prior", 3)])
def test_bad_config_values(field, value):
    with pytest.raises(ConfigError):
        FederatedConfig(**{field: value})


def test_feature_factors_tie_items_that_share_features():
    features = np.array([[1, 0, 0], [1, 0, 0], [0, 1, 1], [0, 0, 0]], dtype=float)
    f = feature_factors(features, 4, 5, np.random.default_rng(0), 0.1)
    assert f.shape == (4, 5) and f.dtype == np.float32
    np.testing.assert_array_equal(f[0], f[1])
    assert np.all(f[3] == 0) and not np.allclose(f[0], f[2])
    for bad in (None, np.ones((3, 2)), np.full((4, 2), np.nan)):
        with pytest.raises(ConfigError):
            feature_factors(bad, 4, 5, np.random.default_rng(0), 0.1)


def test_item_features_only_with_feature_init(small_split):
    cfg = FederatedConfig(factors=4, rounds=1, clients_per_round=5, local=LocalConfig(epochs=1))
    with pytest.raises(ConfigError, match="item_init"):
        FederatedTrainer(small_split, cfg, item_features=np.ones((small_split.n_items, 2)))
    feat = FederatedTrainer(small_split, FederatedConfig(factors=4, rounds=1, clients_per_round=5,
                                                         item_init="features"),
                            item_features=np.eye(small_split.n_items)[:, :3])
    assert np.all(feat.server.model.factors[3:] == 0)  # items without a feature start at 0
