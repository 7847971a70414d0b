"""Training over the real SecAgg+ protocol: the server gets only the (de-quantized) sum."""

from __future__ import annotations

import numpy as np
import pytest

from secagg.aggregators.registry import create_aggregator
from secagg.cli import main
from secagg.protocol.stage import Stage
from secagg.rec.client import LocalConfig
from secagg.rec.train import FederatedConfig, FederatedTrainer

from .helpers import Recording


def secure(name: str, **options):
    try:
        return create_aggregator(name, **options)
    except ImportError as exc:  # the protocol package is part of this repository; say so if absent
        pytest.skip(f"{name} unavailable: {exc}")


@pytest.mark.parametrize("name", ["secagg+", "secagg"])
def test_training_over_secure_aggregation(small_split, small_eval, name):
    cfg = FederatedConfig(factors=6, rounds=3, clients_per_round=15, local=LocalConfig(epochs=2, clip_norm=1.0),
                          aggregator=name, server_lr=15.0, dropout=0.2, seed=2, quantization_range=2**16)
    inner = secure(name, clipping_range=1.0, quantization_range=2**16, dropout_fraction=0.4)
    rec = Recording(inner)
    trainer = FederatedTrainer(small_split, cfg, eval_set=small_eval, aggregator=rec)
    received = []
    original = trainer.server.apply
    trainer.server.apply = lambda result: (received.append(result), original(result))[1]  # type: ignore[method-assign]
    history = trainer.fit()
    assert not any(r["aborted"] for r in history)
    for (updates, dropouts), result in zip(rec.calls, received):
        included = sorted(c for c in updates if dropouts.get(c) is None or dropouts[c] > Stage.MASKED_INPUT)
        assert sorted(result.included) == included
        exact = sum(updates[c].astype(np.float64) for c in included)
        assert np.max(np.abs(result.total - exact)) <= inner.error_bound(len(included))
        assert result.total_bytes_sent() > 0
    assert trainer.server.model.version == 3


def test_trainer_builds_the_secure_aggregator_by_name(small_split):
    secure("secagg+")
    cfg = FederatedConfig(factors=4, rounds=1, clients_per_round=12, aggregator="secagg+", server_lr=12.0)
    trainer = FederatedTrainer(small_split, cfg)
    assert trainer.aggregator.name == "secagg+"
    assert trainer.run_round()["included"] == 12


def test_demo_default_is_secagg_plus(capsys):
    secure("secagg+")
    assert main(["demo", "--rounds", "2", "--clients-per-round", "15", "--no-progress", "--baseline-epochs", "2"]) == 0
    out = capsys.readouterr().out
    assert "with secagg+" in out and "federated secagg+" in out


def test_the_backend_changes_nothing_but_where_clients_run(small_split, small_eval, ray_instance):
    secure("secagg+")
    cfg = FederatedConfig(factors=4, rounds=2, clients_per_round=12, local=LocalConfig(epochs=1, clip_norm=1.0),
                          aggregator="secagg+", server_lr=12.0, dropout=0.2, seed=5)
    runs = [FederatedTrainer(small_split, cfg, eval_set=small_eval, backend=b, backend_options=o)
            for b, o in (("inprocess", None), ("ray", {"groups": 2}))]
    inner = runs[1].aggregator
    rec = Recording(inner)
    runs[1].aggregator = rec
    received = []
    original = runs[1].server.apply
    runs[1].server.apply = lambda result: (received.append(result), original(result))[1]  # type: ignore[method-assign]
    histories = [trainer.fit() for trainer in runs]
    assert inner._backend.name == "ray" and inner._backend._backend is None  # fit() released the actors
    # CPU spent in the actors is counted in the round's CPU time
    assert all(r["aggregator_seconds"]["worker_cpu"] == 0 for r in histories[0])
    assert all(0 < r["aggregator_seconds"]["worker_cpu"] <= r["seconds"]["round_cpu"] for r in histories[1])
    for one, two in zip(*histories):  # same sampling and dropouts: same clients included
        assert (one["included"], one["dropped"], one["aborted"]) == (two["included"], two["dropped"], two["aborted"])
    for (updates, dropouts), result in zip(rec.calls, received):  # and each sum is exact
        exact = sum(updates[c].astype(np.float64) for c in result.included)
        assert np.max(np.abs(result.total - exact)) <= runs[0].aggregator.error_bound(len(result.included))
    assert len(rec.calls) == 2


def test_cli_train_on_the_ray_backend(tmp_path, capsys, ray_instance):
    secure("secagg+")
    assert main(["train", "--aggregator", "secagg+", "--rounds", "2", "--clients-per-round", "12",
                 "--backend", "ray", "--no-progress", "--output", str(tmp_path)]) == 0
    assert (tmp_path / "metrics.json").is_file()
    assert "federated secagg+" in capsys.readouterr().out


def test_cli_refuses_a_ray_address_without_the_ray_backend(tmp_path, capsys):
    assert main(["train", "--rounds", "1", "--ray-address", "auto", "--no-progress", "--output", str(tmp_path)]) == 2
    assert "--ray-address needs --backend ray" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["train", "--backend", "processes", "--output", str(tmp_path)])
    assert "invalid choice: 'processes'" in capsys.readouterr().err


def test_a_round_of_one_client_is_aborted_not_a_crash(small_split, client_backend):
    secure("secagg+")
    cfg = FederatedConfig(factors=4, rounds=2, clients_per_round=1, aggregator="secagg+", server_lr=1.0)
    trainer = FederatedTrainer(small_split, cfg, backend=client_backend)
    history = trainer.fit()
    assert all(r["aborted"] and "at least 2" in r["abort_reason"] for r in history)
    assert trainer.server.model.version == 0  # nothing was applied
