"""Distributed DP through ``secagg train``: epsilon per round in metrics.json, calibration, bad input."""

from __future__ import annotations

import json
import math

import pytest

pytest.importorskip("dp_accounting")

from secagg.cli import main  # noqa: E402
from secagg.dp import DPConfig, epsilon_for  # noqa: E402
from secagg.dp.aggregator import layout_for  # noqa: E402
from secagg.errors import CheckpointError, PrivacyError  # noqa: E402
from secagg.rec.client import LocalConfig  # noqa: E402
from secagg.rec.train import FederatedConfig, FederatedTrainer  # noqa: E402

SMALL = ["train", "--data", "synthetic", "--rounds", "3", "--clients-per-round", "20", "--local-epochs", "1",
         "--factors", "4", "--seed", "1", "--eval-every", "3", "--no-progress"]


def run(tmp_path, *extra: str, name: str = "run") -> dict:
    out = tmp_path / name
    assert main([*SMALL, "--output", str(out), *extra]) == 0
    return json.loads((out / "metrics.json").read_text())


def independent_epsilons(doc: dict) -> list[float]:
    """Epsilon after each round, recomputed from the saved config and each round's contributors."""
    cfg = FederatedConfig.from_dict(doc["config"])
    dp = cfg.dp
    plan = dp.plan(doc["privacy"]["dim"], layout_for(cfg.aggregator))
    mechs = [dp.round_mechanism(plan.params, r["included"]) for r in doc["rounds"] if not r["aborted"]]
    return [epsilon_for([(m, 1) for m in mechs[:k]], dp.target_delta, dp.accountant)
            for k in range(1, len(mechs) + 1)]


@pytest.mark.parametrize("aggregator", ["plain", "secagg+"])
def test_noise_multiplier_run_records_increasing_epsilon(tmp_path, aggregator, capsys):
    doc = run(tmp_path, "--aggregator", aggregator, "--noise-multiplier", "1.0")
    eps = [r["epsilon"] for r in doc["rounds"]]
    assert len(eps) == 3 and all(0 < a < b for a, b in zip(eps, eps[1:]))
    assert eps == pytest.approx(independent_epsilons(doc), rel=1e-9)
    privacy = doc["privacy"]
    assert privacy["epsilon_spent"] == eps[-1] and privacy["rounds_charged"] == 3
    assert privacy["noise_multiplier"] == 1.0 and privacy["accountant"] == "skellam"
    assert privacy["delta"] == 1e-5 and privacy["num_users"] == doc["data"]["users"]
    assert privacy["planned_epsilon"] == pytest.approx(eps[-1], rel=1e-9)  # no dropout: the plan held
    assert {"scale", "bits", "local_variance", "wrap_probability"} <= set(privacy)
    assert all(r["noise_multiplier"] == pytest.approx(1.0) for r in doc["rounds"])
    assert f"privacy: epsilon {eps[-1]:.4g}" in capsys.readouterr().out


@pytest.mark.parametrize("accountant", ["skellam", "gaussian"])
def test_epsilon_target_is_met(tmp_path, accountant):
    doc = run(tmp_path, "--aggregator", "plain", "--epsilon", "3", "--delta", "1e-4",
              "--dp-accountant", accountant)
    eps = [r["epsilon"] for r in doc["rounds"]]
    # calibrated for the planned rounds: at most the target, and within the calibration tolerance
    assert eps[-1] <= 3.0 and eps[-1] == pytest.approx(3.0, rel=1e-3)
    assert doc["privacy"]["delta"] == 1e-4 and doc["privacy"]["accountant"] == accountant
    assert eps == pytest.approx(independent_epsilons(doc), rel=1e-9)


@pytest.mark.parametrize("extra, message", [
    (["--epsilon", "0"], "epsilon must be > 0"),
    (["--epsilon", "-1"], "epsilon must be > 0"),
    (["--epsilon", "2", "--delta", "1.5"], "delta must be in the open interval (0, 1)"),
    (["--noise-multiplier", "1", "--delta", "0"], "delta must be in the open interval (0, 1)"),
    (["--epsilon", "2", "--clip-norm", "0"], "clip_norm must be finite and > 0"),
    (["--noise-multiplier", "1", "--dp-bits", "8"], "bits=8 cannot hold the noisy sum"),
    (["--epsilon", "2", "--noise-multiplier", "1"], "exactly one of epsilon"),
    (["--epsilon", "2", "--aggregator", "he-ckks"], "work with --aggregator plain, secagg, secagg+"),
    (["--epsilon", "2", "--sampling-rate", "0.1"], "not --sampling-rate"),
    (["--delta", "1e-5"], "--delta needs --epsilon or --noise-multiplier"),
    (["--epsilon", "2", "--clients-per-round", "5000"], "cannot exceed num_users"),
])
def test_bad_dp_input_is_a_clean_error_before_training(tmp_path, capsys, extra, message):
    out = tmp_path / "bad"
    assert main([*SMALL, "--aggregator", "plain", "--output", str(out), *extra]) == 2
    captured = capsys.readouterr()
    assert captured.err.startswith("secagg: error: ") and message in captured.err
    assert captured.err.count("\n") == 1 and "Traceback" not in captured.err
    assert not out.exists()  # nothing trained, nothing written


def small_trainer(small_split, rounds: int = 3) -> FederatedTrainer:
    users = int((small_split.train.counts() > 0).sum())
    dp = DPConfig(clip_norm=1.0, clients_per_round=10, num_users=users, rounds=rounds, noise_multiplier=0.8)
    cfg = FederatedConfig(factors=4, rounds=rounds, clients_per_round=10, local=LocalConfig(epochs=1, clip_norm=1.0),
                          aggregator="plain", eval_every=0, dp=dp)
    return FederatedTrainer(small_split, cfg)


def test_resume_rebuilds_the_privacy_ledger(small_split):
    whole = small_trainer(small_split)
    whole.fit()
    part = small_trainer(small_split)
    part.run_round()
    part.run_round()
    arrays, meta = part.state()
    resumed = small_trainer(small_split)
    resumed.load_state(arrays, json.loads(json.dumps(meta)))
    assert resumed.ledger.rounds == 2 and resumed.ledger.epsilon() == part.ledger.epsilon()
    resumed.fit()
    assert [r["epsilon"] for r in resumed.history] == pytest.approx([r["epsilon"] for r in whole.history],
                                                                    rel=1e-12)
    meta["history"][1]["epsilon"] /= 2  # a checkpoint that under-reports the privacy spent
    with pytest.raises(CheckpointError, match="epsilon"):
        small_trainer(small_split).load_state(arrays, meta)


def test_dp_config_must_describe_the_run(small_split):
    users = int((small_split.train.counts() > 0).sum())
    dp = DPConfig(clip_norm=1.0, clients_per_round=10, num_users=users, rounds=3, epsilon=2.0)
    local = LocalConfig(epochs=1, clip_norm=1.0)
    with pytest.raises(PrivacyError, match="rounds"):
        FederatedConfig(factors=4, rounds=5, clients_per_round=10, local=local, dp=dp)
    with pytest.raises(PrivacyError, match="he-bfv"):
        FederatedConfig(factors=4, rounds=3, clients_per_round=10, local=local, aggregator="he-bfv", dp=dp)
    wrong_users = DPConfig(clip_norm=1.0, clients_per_round=10, num_users=users + 1, rounds=3, epsilon=2.0)
    with pytest.raises(PrivacyError, match="num_users"):
        FederatedTrainer(small_split, FederatedConfig(factors=4, rounds=3, clients_per_round=10, local=local,
                                                          dp=wrong_users))
    assert math.isfinite(FederatedTrainer(small_split, FederatedConfig(
        factors=4, rounds=3, clients_per_round=10, local=local, dp=dp)).privacy_plan.planned_epsilon)


def test_federated_mf_api_with_dp(small_split, tmp_path):
    from secagg.rec.api import FederatedMF

    with pytest.raises(PrivacyError, match="epsilon must be > 0"):
        FederatedMF(factors=4, rounds=2, clients_per_round=10, epsilon=0.0)
    with pytest.raises(PrivacyError, match="delta"):
        FederatedMF(factors=4, rounds=2, clients_per_round=10, noise_multiplier=1.0, delta=2.0)
    model = FederatedMF(factors=4, rounds=2, clients_per_round=10, local_epochs=1, clip_norm=1.0, epsilon=4.0)
    model.fit(small_split.train, show_progress=False)
    trainer = model.trainer
    eps = [r["epsilon"] for r in trainer.history]
    assert len(eps) == 2 and 0 < eps[0] < eps[1] <= 4.0 and eps[1] == pytest.approx(4.0, rel=1e-3)
    assert trainer.privacy_plan.config.num_users == len(trainer.client_ids)
    loaded = FederatedMF.load(model.save(tmp_path / "m.npz"))
    assert loaded.trainer.ledger.epsilon() == pytest.approx(eps[-1], rel=1e-12)
