"""The federated round: what reaches the server, clipping, dropouts, optimisers, checkpoints."""

from __future__ import annotations

import numpy as np
import pytest

from secagg.aggregators.base import AggregationResult, Aggregator
from secagg.errors import CheckpointError, ConfigError, InputError, ThresholdError
from secagg.protocol.stage import Stage
from secagg.rec import checkpoint
from secagg.rec.client import LocalConfig
from secagg.rec.sampling import ClientSampler, DropoutSimulator
from secagg.rec.train import FederatedConfig, FederatedTrainer

from .helpers import Recording


def config(**kw) -> FederatedConfig:
    base = dict(factors=6, rounds=4, clients_per_round=20, local=LocalConfig(epochs=2, clip_norm=1.0),
                server_lr=20.0, seed=5)
    base.update(kw)
    return FederatedConfig(**base)


def walk_arrays(obj, seen=None):
    """Every numpy array reachable from ``obj``'s attributes."""
    seen = seen if seen is not None else set()
    if id(obj) in seen:
        return
    seen.add(id(obj))
    if isinstance(obj, np.ndarray):
        yield obj
    elif isinstance(obj, dict):
        for v in obj.values():
            yield from walk_arrays(v, seen)
    elif isinstance(obj, (list, tuple)):
        for v in obj:
            yield from walk_arrays(v, seen)
    elif hasattr(obj, "__dict__"):
        yield from walk_arrays(vars(obj), seen)


def test_server_only_sees_sums_never_user_vectors(small_split, monkeypatch):
    rec = Recording()
    trainer = FederatedTrainer(small_split, config(dropout=0.3), aggregator=rec)
    received = []
    original = trainer.server.apply
    monkeypatch.setattr(trainer.server, "apply", lambda result: (received.append(result), original(result))[1])
    trainer.fit()
    size = trainer.server.model.size
    assert all(isinstance(r, AggregationResult) for r in received) and len(received) == 4
    for (updates, dropouts), result in zip(rec.calls, received):
        # Uploads are dense item-model updates: the full length, whatever the user rated.
        assert all(v.shape == (size,) for v in updates.values())
        included = [c for c in updates if dropouts.get(c) is None or dropouts[c] > Stage.MASKED_INPUT]
        np.testing.assert_allclose(result.total, sum(updates[c].astype(np.float64) for c in included), rtol=1e-6)
    # Nothing the server holds has a user-vector shape, and it refuses anything but a sum.
    k = trainer.config.factors
    for arr in walk_arrays(trainer.server):
        assert arr.shape not in {(k,), (1, k), (small_split.n_users, k)}
    with pytest.raises(InputError):
        trainer.server.apply(np.zeros(size))  # type: ignore[arg-type]
    user = trainer.clients[int(trainer.client_ids[0])].state()["user"][0]
    for updates, _ in rec.calls:
        for vec in updates.values():
            assert not any(np.allclose(vec[s:s + k], user) for s in range(0, size - k + 1, k))


def test_updates_are_clipped(small_split):
    rec = Recording()
    cfg = config(local=LocalConfig(epochs=3, lr=0.5, clip_norm=0.05), rounds=2)
    FederatedTrainer(small_split, cfg, aggregator=rec).fit()
    norms = [np.linalg.norm(v) for updates, _ in rec.calls for v in updates.values()]
    assert max(norms) <= 0.05 * (1 + 1e-5)
    assert max(norms) > 0.04  # lr 0.5 makes raw updates far larger than the clip


def test_training_beats_the_initial_model(small_split, small_eval):
    trainer = FederatedTrainer(small_split, config(rounds=25, local=LocalConfig(epochs=3, clip_norm=5.0)),
                               eval_set=small_eval)
    before = trainer.evaluate()
    trainer.fit()
    after = trainer.history[-1]["metrics"]
    assert after["ndcg@10"] > before["ndcg@10"] + 0.05
    assert trainer.server.model.version == 25


@pytest.mark.parametrize("optimizer, lr", [("fedavg", 20.0), ("fedadam", 0.02)])
def test_dropouts_and_optimizers(small_split, small_eval, optimizer, lr):
    trainer = FederatedTrainer(small_split, config(rounds=12, dropout=0.3, server_optimizer=optimizer,
                                                   server_lr=lr, sampling_rate=0.2, clients_per_round=None,
                                                   eval_every=12), eval_set=small_eval)
    history = trainer.fit()
    assert sum(r["dropped"] for r in history) > 0
    assert all(r["included"] == r["contributing"] for r in history)
    assert history[-1]["metrics"]["sampled_ndcg@10"] > 0.2


def test_aborted_round_leaves_model_unchanged(small_split):
    class Failing(Aggregator):
        name = "failing"

        def aggregate(self, updates, *, dropouts=None, round_index=0):
            raise ThresholdError("too few survivors", stage="UNMASKING", survivors=1, threshold=3)

    trainer = FederatedTrainer(small_split, config(rounds=1), aggregator=Failing())
    before = trainer.server.model.to_vector()
    record = trainer.run_round()
    assert record["aborted"] and "too few" in record["abort_reason"]
    np.testing.assert_array_equal(trainer.server.model.to_vector(), before)
    assert trainer.server.model.version == 0


def strip_timing(history):
    return [{k: v for k, v in r.items() if k not in ("seconds", "aggregator_seconds")} for r in history]


def test_resume_equals_uninterrupted(small_split, small_eval, tmp_path):
    cfg = config(rounds=6, dropout=0.25, server_optimizer="fedadam", server_lr=0.02, eval_every=2)
    full = FederatedTrainer(small_split, cfg, eval_set=small_eval)
    full.fit()

    first = FederatedTrainer(small_split, cfg, eval_set=small_eval)
    for _ in range(3):
        first.run_round()
    path = checkpoint.save(tmp_path / "ckpt.npz", *first.state())
    resumed = FederatedTrainer(small_split, cfg, eval_set=small_eval)
    resumed.load_state(*checkpoint.load(path))
    assert resumed.round == 3
    resumed.fit()

    np.testing.assert_array_equal(resumed.server.model.factors, full.server.model.factors)
    np.testing.assert_array_equal(resumed.server.model.biases, full.server.model.biases)
    assert resumed.server.model.version == full.server.model.version == 6
    assert strip_timing(resumed.history) == strip_timing(full.history)
    for cid in full.client_ids[:10]:
        np.testing.assert_array_equal(resumed.clients[int(cid)].state()["user"], full.clients[int(cid)].state()["user"])


def test_checkpoint_mismatch_and_corruption(small_split, tmp_path):
    trainer = FederatedTrainer(small_split, config(rounds=1))
    trainer.fit()
    path = checkpoint.save(tmp_path / "c.npz", *trainer.state())
    other = FederatedTrainer(small_split, config(rounds=1, factors=7))
    with pytest.raises(CheckpointError, match="factors"):
        other.load_state(*checkpoint.load(path))
    (tmp_path / "bad.npz").write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="not a readable"):
        checkpoint.load(tmp_path / "bad.npz")
    with pytest.raises(CheckpointError, match="not found"):
        checkpoint.load(tmp_path / "missing.npz")


def test_sampling_and_dropout_simulation():
    rng = np.random.default_rng(0)
    fixed = ClientSampler(np.arange(50), per_round=10)
    picks = fixed.sample(rng)
    assert len(picks) == 10 == len(set(picks))
    poisson = ClientSampler(np.arange(1000), rate=0.1)
    sizes = [len(poisson.sample(rng)) for _ in range(20)]
    assert 60 < np.mean(sizes) < 140
    drops = DropoutSimulator(0.5).draw(np.arange(400), rng)
    assert 150 < len(drops) < 250 and set(drops.values()) == set(DropoutSimulator.STAGES)
    with pytest.raises(ConfigError):
        ClientSampler(np.arange(5), per_round=6)
    with pytest.raises(ConfigError):
        ClientSampler(np.arange(5), per_round=2, rate=0.5)
    with pytest.raises(ConfigError):
        DropoutSimulator(1.0)
    with pytest.raises(ConfigError):
        FederatedConfig(clients_per_round=None)
    with pytest.raises(ConfigError):
        LocalConfig(lr=0)


def test_personalised_evaluation_does_not_change_devices(small_split, small_eval):
    trainer = FederatedTrainer(small_split, config(rounds=3, finetune_epochs=3), eval_set=small_eval)
    trainer.fit()
    users = {c: trainer.clients[int(c)].state()["user"].copy() for c in trainer.client_ids}
    rngs = {c: trainer.clients[int(c)].state()["rng"] for c in trainer.client_ids}
    tuned = trainer.evaluate()
    assert rngs == {c: trainer.clients[int(c)].state()["rng"] for c in trainer.client_ids}
    plain = FederatedTrainer(small_split, config(rounds=3), eval_set=small_eval)
    plain.fit()
    assert tuned != plain.evaluate()
    for c, vec in users.items():
        np.testing.assert_array_equal(trainer.clients[int(c)].state()["user"], vec)
