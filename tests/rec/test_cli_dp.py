"""Distributed DP through ``secagg train``: both epsilons per round in metrics.json, calibration, the
sampler the accountant analyses, the stored plan on resume, bad input."""

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
    """Release epsilon after each charged round, recomputed from the saved config and contributors."""
    cfg = FederatedConfig.from_dict(doc["config"])
    dp = cfg.dp
    plan = dp.plan(doc["privacy"]["dim"], layout_for(cfg.aggregator))
    mechs = [dp.round_mechanism(plan.params, r["included"]) for r in doc["rounds"] if not r["aborted"]]
    return [epsilon_for([(m, 1) for m in mechs[:k]], dp.target_delta, dp.accountant)
            for k in range(1, len(mechs) + 1)]


@pytest.mark.parametrize("aggregator", ["plain", "secagg+"])
def test_noise_multiplier_run_records_increasing_epsilon(tmp_path, aggregator, capsys):
    doc = run(tmp_path, "--aggregator", aggregator, "--noise-multiplier", "1.0")
    eps = [r["epsilon_release"] for r in doc["rounds"] if not r["aborted"]]
    assert len(eps) == 3 and all(0 < a < b for a, b in zip(eps, eps[1:]))
    assert eps == pytest.approx(independent_epsilons(doc), rel=1e-9)
    privacy = doc["privacy"]
    assert privacy["epsilon_release"] == eps[-1] and privacy["rounds_charged"] == 3
    assert privacy["sampling"] == "poisson" and privacy["adjacency"] == "add/remove one user"
    # the server sees the cohort: no amplification, over the rounds the busiest user took part in
    assert privacy["epsilon_server"] > 2 * privacy["epsilon_release"]
    assert 1 <= privacy["max_participation"] <= 3
    assert set(privacy["guarantee"]) >= {"epsilon_release", "epsilon_server", "sampling", "unit"}
    assert privacy["noise_multiplier"] == 1.0 and privacy["accountant"] == "skellam"
    assert privacy["delta"] == 1e-5 and privacy["num_users"] == doc["data"]["users"]
    assert privacy["planned_epsilon"] == pytest.approx(eps[-1], rel=1e-9)  # no dropout: the plan held
    assert {"scale", "bits", "local_variance", "wrap_probability"} <= set(privacy)
    assert all(r["noise_multiplier"] == pytest.approx(1.0) for r in doc["rounds"])
    out = capsys.readouterr().out
    assert f"privacy: epsilon_release {eps[-1]:.4g}" in out
    assert f"epsilon_server {privacy['epsilon_server']:.4g}" in out


@pytest.mark.parametrize("accountant", ["skellam", "gaussian"])
def test_epsilon_target_is_met(tmp_path, accountant):
    doc = run(tmp_path, "--aggregator", "plain", "--epsilon", "3", "--delta", "1e-4",
              "--dp-accountant", accountant)
    eps = [r["epsilon_release"] for r in doc["rounds"] if not r["aborted"]]
    # calibrated for the planned rounds: at most the target, and within the calibration tolerance
    assert eps[-1] <= 3.0 and eps[-1] == pytest.approx(3.0, rel=1e-3)
    assert doc["privacy"]["delta"] == 1e-4 and doc["privacy"]["accountant"] == accountant
    assert eps == pytest.approx(independent_epsilons(doc), rel=1e-9)


def test_fixed_size_run_samples_exactly_and_is_accounted_with_replace_one(tmp_path):
    import dp_accounting as dpa

    doc = run(tmp_path, "--aggregator", "plain", "--noise-multiplier", "2.0", "--dp-sampling", "fixed",
              "--dp-accountant", "gaussian")
    users, privacy = doc["data"]["users"], doc["privacy"]
    assert [r["sampled"] for r in doc["rounds"]] == [20, 20, 20]
    assert privacy["sampling"] == "fixed" and privacy["adjacency"] == "replace one user"
    acc = dpa.rdp.RdpAccountant(neighboring_relation=dpa.NeighboringRelation.REPLACE_ONE)
    acc.compose(dpa.SampledWithoutReplacementDpEvent(users, 20, dpa.GaussianDpEvent(2.0 / 2)), 3)
    assert privacy["epsilon_release"] == pytest.approx(acc.get_epsilon(1e-5), rel=1e-2)
    assert privacy["epsilon_release"] >= acc.get_epsilon(1e-5) * (1 - 1e-9)


def test_cyclic_run_holds_the_same_epsilon_against_the_server(tmp_path, capsys):
    doc = run(tmp_path, "--aggregator", "plain", "--epsilon", "4", "--dp-sampling", "cyclic")
    privacy = doc["privacy"]
    assert privacy["sampling"] == "cyclic" and privacy["max_participation"] == 1  # 3 rounds < 1 epoch
    assert privacy["epsilon_release"] == privacy["epsilon_server"] <= 4.0
    assert privacy["planned_epsilon_server"] == pytest.approx(privacy["planned_epsilon_release"])
    assert "epsilon_server" in capsys.readouterr().out


def test_poisson_run_draws_varying_cohorts(tmp_path):
    doc = run(tmp_path, "--aggregator", "plain", "--noise-multiplier", "1.0", "--rounds", "8",
              "--eval-every", "0")
    sizes = [r["sampled"] for r in doc["rounds"]]
    assert len(set(sizes)) > 1  # a fixed count would be a different mechanism


def test_resume_with_different_dp_settings_is_refused_and_writes_nothing(tmp_path, capsys):
    out = tmp_path / "run"
    common = [*SMALL, "--aggregator", "plain", "--output", str(out), "--checkpoint-every", "1"]
    assert main([*common, "--noise-multiplier", "1.0"]) == 0
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    capsys.readouterr()
    assert main([*common, "--resume", "--noise-multiplier", "0.5"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "stored DP plan differs" in err and "noise_multiplier" in err
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert main([*common, "--resume", "--noise-multiplier", "1.0", "--dp-sampling", "fixed"]) == 2
    assert "sampling" in capsys.readouterr().err


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
    (["--dp-sampling", "fixed"], "--dp-sampling needs --epsilon or --noise-multiplier"),
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
    assert resumed.ledger.rounds == part.ledger.rounds and resumed.ledger.epsilon() == part.ledger.epsilon()
    assert resumed.ledger.epsilon_server() == pytest.approx(part.ledger.epsilon_server(), rel=1e-12)
    resumed.fit()
    for key in ("epsilon_release", "epsilon_server"):
        assert [r[key] for r in resumed.history] == pytest.approx([r[key] for r in whole.history], rel=1e-12)
    forged = json.loads(json.dumps(meta))
    forged["history"][1]["epsilon_release"] /= 2  # a checkpoint that under-reports the privacy spent
    with pytest.raises(CheckpointError, match="epsilon"):
        small_trainer(small_split).load_state(arrays, forged)
    forged = json.loads(json.dumps(meta))
    forged["dp_participation"] = {}  # hides who took part: the server epsilon would drop
    with pytest.raises(CheckpointError, match="server epsilon"):
        small_trainer(small_split).load_state(arrays, forged)
    forged = json.loads(json.dumps(meta))
    forged["dp_plan"]["params"]["noise_multiplier"] = 0.4  # past rounds re-accounted at another noise
    with pytest.raises(PrivacyError, match="stored DP plan differs in params.noise_multiplier"):
        small_trainer(small_split).load_state(arrays, forged)


def test_a_sampler_the_accountant_does_not_analyse_is_refused(small_split):
    from secagg.rec.sampling import ClientSampler

    trainer = small_trainer(small_split)
    ids = trainer.client_ids
    for forced in (ClientSampler(ids, per_round=10), ClientSampler(ids, rate=10 / len(ids)),
                   ClientSampler(ids, rate=0.5, exact_poisson=True)):
        with pytest.raises(PrivacyError, match="accountant analyses"):
            FederatedTrainer(small_split, trainer.config, sampler=forced)
        trainer.sampler = forced  # swapped in after construction
        with pytest.raises(PrivacyError, match="accountant analyses"):
            trainer.run_round()
    assert trainer.round == 0 and trainer.ledger.rounds == 0


def test_dp_config_must_describe_the_run(small_split):
    users = int((small_split.train.counts() > 0).sum())
    dp = DPConfig(clip_norm=1.0, clients_per_round=10, num_users=users, rounds=3, epsilon=2.0)
    local = LocalConfig(epochs=1, clip_norm=1.0)
    with pytest.raises(PrivacyError, match="rounds"):
        FederatedConfig(factors=4, rounds=5, clients_per_round=10, local=local, dp=dp)
    with pytest.raises(PrivacyError, match="he-bfv"):
        FederatedConfig(factors=4, rounds=3, clients_per_round=10, local=local, aggregator="he-bfv", dp=dp)
    wrong_users = DPConfig(clip_norm=1.0, clients_per_round=10, num_users=users + 1, rounds=3, epsilon=2.0)
    with pytest.raises(PrivacyError, match="sampling_rate"):
        FederatedConfig(factors=4, rounds=3, clients_per_round=None, sampling_rate=0.1, local=local, dp=dp)
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
    with pytest.raises(PrivacyError, match="cannot analyse sampling 'bernoulli'"):
        FederatedMF(factors=4, rounds=2, clients_per_round=10, noise_multiplier=1.0, dp_sampling="bernoulli")
    fixed = FederatedMF(factors=4, rounds=2, clients_per_round=10, local_epochs=1, clip_norm=1.0,
                        noise_multiplier=1.0, dp_sampling="fixed")
    fixed.fit(small_split.train, show_progress=False)
    assert [r["sampled"] for r in fixed.trainer.history] == [10, 10]
    assert fixed.trainer.privacy_plan.config.sampling == "fixed"
    model = FederatedMF(factors=4, rounds=2, clients_per_round=10, local_epochs=1, clip_norm=1.0, epsilon=4.0)
    model.fit(small_split.train, show_progress=False)
    trainer = model.trainer
    eps = [r["epsilon_release"] for r in trainer.history]
    assert len(eps) == 2 and 0 < eps[0] < eps[1] <= 4.0 and eps[1] == pytest.approx(4.0, rel=1e-3)
    assert trainer.privacy_plan.config.num_users == len(trainer.client_ids)
    loaded = FederatedMF.load(model.save(tmp_path / "m.npz"))
    assert loaded.trainer.ledger.epsilon() == pytest.approx(eps[-1], rel=1e-12)
