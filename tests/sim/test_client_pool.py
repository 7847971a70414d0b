"""Clients hosted in worker processes give the same results as in-process clients."""

from __future__ import annotations

import dataclasses
import os
import pickle
import secrets
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest
from protocol.helpers import quantized_sum

from secagg import create_aggregator
from secagg.aggregators.process import AggregatorProcess
from secagg.errors import (
    ConfigError,
    DTypeError,
    InputError,
    InvalidMessageError,
    SeedError,
    ShapeError,
    ThresholdError,
    UnsafeRequestError,
    WorkerError,
)
from secagg.protocol.config import NoisePlan
from secagg.protocol.stage import Stage
from secagg.sim.client_pool import ClientPool, check_workers
from secagg.sim.session import simulate

N, D = 12, 300
CLIP, Q = 1.0, 2**12


@pytest.fixture(scope="module")
def pool():
    with ClientPool(2) as p:
        yield p


def _inputs(seed: int = 0) -> dict[int, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {cid: rng.uniform(-CLIP, CLIP, D) for cid in range(N)}


def _assert_exact(result, updates, agg) -> None:
    """The aggregate is the exact sum of the included clients' updates, up to their rounding."""
    exact = sum(updates[c].astype(np.float64) for c in result.included)
    assert np.abs(result.total - exact).max() <= agg.error_bound(len(result.included))



@pytest.mark.parametrize("threat_model", ["honest-but-curious", "active"])
@pytest.mark.parametrize("protocol", ["secagg", "secagg+"])
def test_pool_gives_the_exact_sum_of_the_same_clients(pool, protocol, threat_model):
    updates = _inputs()
    seeds = {cid: secrets.token_bytes(32) for cid in updates}
    drop = {3: Stage.MASKED_INPUT, 7: Stage.UNMASKING}
    kwargs = dict(protocol=protocol, threat_model=threat_model, dropouts=drop, clipping_range=CLIP,
                  quantization_range=Q, rounding_seeds=seeds, dropout_fraction=0.2)
    local = simulate(updates, **kwargs)
    pooled = simulate(updates, pool=pool, **kwargs)
    assert pooled.included == local.included == frozenset(set(updates) - {3})
    expect = quantized_sum(updates, seeds, pooled.included, clipping_range=CLIP, quantization_range=Q,
                           modulus_range=pooled.config.modulus_range)
    np.testing.assert_array_equal(pooled.quantized_sum, expect)
    np.testing.assert_array_equal(pooled.quantized_sum, local.quantized_sum)
    assert pooled.bytes_sent.keys() == local.bytes_sent.keys()
    assert all(pooled.client_seconds[cid] > 0 for cid in updates if cid != 3)
    assert pooled.seconds["client_cpu"] > 0


def test_pool_with_in_kernel_noise_matches_in_process(pool):
    rng = np.random.default_rng(1)
    updates = {cid: rng.integers(0, 100, D).astype(np.uint32) for cid in range(N)}
    plans = {cid: NoisePlan(50.0, secrets.token_bytes(32)) for cid in updates}
    kwargs = dict(protocol="secagg+", quantization_range=101, noise_plans=plans)
    np.testing.assert_array_equal(simulate(updates, pool=pool, **kwargs).quantized_sum,
                                  simulate(updates, **kwargs).quantized_sum)


def test_client_errors_come_back_typed_and_honest_clients_finish(pool):
    updates = _inputs(2)

    def tamper(stage, direction, cid, data):
        if stage is Stage.SHARE_KEYS and direction == "request" and cid == 5:
            return data[:-3]  # truncated: the client refuses it
        return data

    result = simulate(updates, protocol="secagg+", pool=pool, tamper=tamper, clipping_range=CLIP,
                      quantization_range=Q, dropout_fraction=0.2)
    assert isinstance(result.client_errors[5], InvalidMessageError)
    assert 5 not in result.included and len(result.included) == N - 1
    exact = sum(updates[c] for c in result.included)
    assert np.abs(result.total - exact).max() <= len(result.included) * 2 * CLIP / (Q - 1) + 1e-9


def test_unsafe_request_is_refused_inside_the_worker(pool):
    updates = _inputs(3)
    from secagg.protocol.messages import decode

    def tamper(stage, direction, cid, data):
        if stage is Stage.UNMASKING and direction == "request" and cid == 0:
            msg = decode(data)  # ask for a survivor's self-mask share AND its key share
            survivor = sorted(msg.survivors)[1]
            return dataclasses.replace(msg, dropped=tuple(sorted({*msg.dropped, survivor}))).to_bytes()
        return data

    result = simulate(updates, protocol="secagg", pool=pool, tamper=tamper, clipping_range=CLIP,
                      quantization_range=Q)
    assert isinstance(result.client_errors[0], UnsafeRequestError)


def test_abort_below_threshold_leaves_the_pool_usable(pool):
    updates = _inputs(4)
    drop = {cid: Stage.MASKED_INPUT for cid in range(N - 1)}  # t = 2 for n = 12
    with pytest.raises(ThresholdError) as info:
        simulate(updates, protocol="secagg", pool=pool, dropouts=drop, clipping_range=CLIP,
                 quantization_range=Q)
    assert info.value.stage is not None
    assert simulate(updates, protocol="secagg", pool=pool, clipping_range=CLIP,
                    quantization_range=Q).included == frozenset(updates)


def test_a_killed_worker_is_a_clear_error_and_the_next_session_recovers():
    updates = _inputs(5)
    options = dict(protocol="secagg+", clipping_range=CLIP, quantization_range=Q)
    with ClientPool(2) as p:
        simulate(updates, pool=p, **options)
        os.kill(p._procs[0].pid, signal.SIGKILL)  # between sessions: silently replaced
        p._procs[0].wait()
        assert simulate(updates, pool=p, **options).included == frozenset(updates)

        def kill_mid_session(stage, direction, cid, data):
            if stage is Stage.MASKED_INPUT and direction == "request" and cid == 0:
                os.kill(p._procs[0].pid, signal.SIGKILL)
                p._procs[0].wait()
            return data

        with pytest.raises(WorkerError, match="died|gone"):
            simulate(updates, pool=p, tamper=kill_mid_session, **options)
        assert simulate(updates, pool=p, **options).included == frozenset(updates)


def test_a_bad_secret_is_refused_before_any_work_with_or_without_a_pool(pool):
    updates = _inputs(6)
    options = dict(rounding_seeds={0: b"short"}, clipping_range=CLIP, quantization_range=Q)
    for where in ({"pool": pool}, {}):
        with pytest.raises(SeedError, match="rounding_seeds"):
            simulate(updates, **where, **options)


def test_a_client_that_fails_fails_alone_as_in_process(pool):
    updates = _inputs(6)

    def truncate_to_client_0(stage, direction, cid, data):  # a corrupted request reaches client 0
        return data[:-3] if (stage, direction, cid) == (Stage.SHARE_KEYS, "request", 0) else data

    options = dict(tamper=truncate_to_client_0, clipping_range=CLIP, quantization_range=Q)
    pooled, local = simulate(updates, pool=pool, **options), simulate(updates, **options)
    assert isinstance(pooled.client_errors[0], InvalidMessageError)
    assert type(pooled.client_errors[0]) is type(local.client_errors[0])
    assert pooled.included == local.included == frozenset(set(updates) - {0})


def test_threshold_error_survives_pickling():
    err = pickle.loads(pickle.dumps(ThresholdError("too few", stage="UNMASKING", survivors=3, threshold=4)))
    assert (str(err), err.stage, err.survivors, err.threshold) == ("too few", "UNMASKING", 3, 4)


@pytest.mark.parametrize("bad", [0, -1, 1.5, True, "2"])
def test_workers_must_be_a_positive_int(bad):
    with pytest.raises(ConfigError):
        check_workers(bad)
    for name in ("secagg+", "he-bfv"):  # one check for every aggregator's worker count
        with pytest.raises(ConfigError):
            create_aggregator(name, workers=bad)


def test_aggregator_with_workers_and_close():
    agg = create_aggregator("secagg+", clipping_range=CLIP, quantization_range=Q, workers=2)
    updates = {cid: v.astype(np.float32) for cid, v in _inputs(7).items()}
    result = agg.aggregate(updates, dropouts={2: Stage.MASKED_INPUT})
    assert 2 not in result.included
    _assert_exact(result, updates, agg)
    procs = list(agg._pool._pool._procs)
    assert len(procs) == 2
    agg.close()
    assert all(p.poll() is not None for p in procs)


def test_a_script_without_a_main_guard_can_use_a_pool(tmp_path):
    script = tmp_path / "no_guard.py"
    script.write_text(textwrap.dedent("""
        import numpy as np
        from secagg.sim.client_pool import ClientPool
        from secagg.sim import simulate
        with ClientPool(2) as pool:
            res = simulate({i: np.full(8, 0.25) for i in range(5)}, protocol="secagg", pool=pool)
        print(len(res.included), round(float(res.total[0]), 2))
    """))
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120,
                         cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["5", "1.25"]


@pytest.mark.parametrize("workers", [1, 2])
def test_prepared_sessions_run_key_agreement_before_the_inputs_exist(workers):
    agg = create_aggregator("secagg+", clipping_range=CLIP, quantization_range=Q, workers=workers,
                            dropout_fraction=0.2)
    try:
        for round_index in range(2):  # the pool and the pattern are reused across rounds
            updates = _inputs(10 + round_index)
            drop = {1: Stage.SHARE_KEYS, 4: Stage.UNMASKING}
            agg.prepare(sorted(updates), vector_length=D, dropouts=drop, round_index=round_index)
            if workers > 1:  # the setup finishes in the background before any input exists
                session, deadline = agg._prepared.session, time.monotonic() + 60
                while session.server.stage is not Stage.MASKED_INPUT and time.monotonic() < deadline:
                    time.sleep(0.01)
                assert session.server.stage is Stage.MASKED_INPUT
            result = agg.aggregate(updates, dropouts=drop, round_index=round_index)
            assert result.included == frozenset(set(updates) - {1})
            _assert_exact(result, updates, agg)
    finally:
        agg.close()


def test_prepared_session_must_get_the_prepared_clients():
    agg = create_aggregator("secagg+", clipping_range=CLIP, quantization_range=Q, workers=2)
    try:
        updates = _inputs(12)
        agg.prepare(sorted(updates)[:-1], vector_length=D)
        with pytest.raises(InputError, match="prepare"):
            agg.aggregate(updates)
        agg.prepare(sorted(updates), vector_length=D, dropouts={0: Stage.MASKED_INPUT})
        with pytest.raises(InputError, match="prepare"):
            agg.aggregate(updates)  # other dropouts than prepared
        agg.prepare(sorted(updates), vector_length=D + 1)
        with pytest.raises(InputError, match="prepare"):
            agg.aggregate(updates)
        assert agg.aggregate(updates).included == frozenset(updates)  # nothing left behind
    finally:
        agg.close()


def test_an_abort_during_background_setup_is_raised_by_aggregate():
    agg = create_aggregator("secagg", clipping_range=CLIP, quantization_range=Q, workers=2)
    try:
        updates = _inputs(13)
        drop = {cid: Stage.SHARE_KEYS for cid in range(N - 1)}  # 1 left, t = 2
        agg.prepare(sorted(updates), vector_length=D, dropouts=drop)
        with pytest.raises(ThresholdError) as info:
            agg.aggregate(updates, dropouts=drop)
        assert info.value.stage == "SHARE_KEYS"
        assert agg.aggregate(updates).included == frozenset(updates)
    finally:
        agg.close()


def test_a_round_of_one_client_is_refused():
    agg = create_aggregator("secagg+", clipping_range=CLIP, quantization_range=Q)
    agg.prepare([3], vector_length=D)
    with pytest.raises(ThresholdError):
        agg.aggregate({3: np.zeros(D)})


def test_client_input_arrives_late_and_is_checked():
    from secagg.errors import ProtocolError, ShapeError
    from secagg.protocol.client import SecAggClient
    from secagg.sim.session import make_session

    client = SecAggClient(0, None)
    with pytest.raises(InputError):
        client.set_input(np.zeros((2, 2)))
    client.set_input(np.zeros(4))  # before the session config is known: only the shape is checked
    session = make_session([0, 1, 2], vector_length=D, protocol="secagg")
    session.setup()
    assert session.server.stage is Stage.MASKED_INPUT
    assert session.clients.provide({0: np.zeros(D + 1), 1: np.zeros(D)}).keys() == {0}
    assert isinstance(session.clients.provide({0: np.zeros(D + 1)})[0], ShapeError)
    result = session.finish({1: np.full(D, 0.5), 2: np.full(D, 0.25)})  # 0 never got a valid input
    assert isinstance(result.client_errors[0], ProtocolError)
    assert result.included == frozenset({1, 2})
    np.testing.assert_allclose(result.total, 0.75, atol=2 * 2 / (2**16 - 1))


@pytest.mark.parametrize("workers", [1, 2])
def test_submitted_updates_are_masked_early_and_summed_exactly(workers):
    agg = create_aggregator("secagg+", clipping_range=CLIP, quantization_range=Q, workers=workers,
                            dropout_fraction=0.2)
    try:
        updates = _inputs(20)
        drop = {2: Stage.MASKED_INPUT, 5: Stage.UNMASKING}
        agg.prepare(sorted(updates), vector_length=D, dropouts=drop)
        for cid in sorted(updates)[:8]:  # 8 devices finish early, the rest come with aggregate()
            agg.submit(cid, updates[cid])
        if workers > 1:
            prepared = agg._prepared
            prepared._inbox.put(None)
            prepared._thread.join()  # let the background thread drain what was submitted
            prepared._thread = None
            session = prepared.session
            assert session._fed == set(range(8))
            assert all(session.sent[c]["MASKED_INPUT"] > 0 for c in range(8) if c != 2)
        result = agg.aggregate(updates, dropouts=drop)
        assert result.included == frozenset(set(updates) - {2})
        _assert_exact(result, updates, agg)
    finally:
        agg.close()


def test_submit_checks_its_input_and_aggregate_checks_it_is_unchanged():
    agg = create_aggregator("secagg+", clipping_range=CLIP, quantization_range=Q, workers=2)
    try:
        updates = _inputs(21)
        agg.prepare(sorted(updates), vector_length=D)
        with pytest.raises(InputError, match="not part"):
            agg.submit(99, updates[0])
        with pytest.raises(ShapeError):
            agg.submit(0, np.zeros(D + 1))
        with pytest.raises(DTypeError):
            agg.submit(0, np.zeros(D, dtype=np.int64))
        agg.submit(0, updates[0])
        changed = dict(updates)
        changed[0] = updates[0] + 0.5
        with pytest.raises(InputError, match="differ"):
            agg.aggregate(changed)
        assert agg.aggregate(updates).included == frozenset(updates)  # a fresh session
    finally:
        agg.close()


def test_workers_import_this_package_whatever_the_working_directory(tmp_path, monkeypatch):
    shadow = tmp_path / "secagg"
    shadow.mkdir()
    (shadow / "__init__.py").write_text("raise ImportError('a source checkout without _core')\n")
    monkeypatch.chdir(tmp_path)  # like pytest run from a repository root
    with ClientPool(2) as p:
        result = simulate(_inputs(30), protocol="secagg", pool=p, clipping_range=CLIP, quantization_range=Q)
    assert result.included == frozenset(range(N))
    remote = AggregatorProcess("secagg", clipping_range=CLIP, quantization_range=Q)
    try:
        assert remote.aggregate(_inputs(31)).included == frozenset(range(N))
    finally:
        remote.close()


def test_a_bug_in_a_worker_is_a_worker_error_and_the_pool_restarts():
    with ClientPool(2) as p:
        with pytest.raises(WorkerError, match="AttributeError"):
            p.begin({0: None, 1: None})  # not ClientSpecs: each worker fails with a traceback
        assert p._procs == []  # stopped; the next session starts fresh workers
        result = simulate(_inputs(40), protocol="secagg", pool=p, clipping_range=CLIP, quantization_range=Q)
        assert result.included == frozenset(range(N))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_inputs_through_shared_memory_are_exact_even_when_fed_in_batches(monkeypatch, dtype):
    import secagg.sim.client_pool as client_pool

    monkeypatch.setattr(client_pool, "_DIRECT_BYTES", 0)  # every batch through the shared matrix
    agg = create_aggregator("secagg+", clipping_range=CLIP, quantization_range=Q, workers=2,
                            dropout_fraction=0.2)
    try:
        for round_index in range(2):  # the segment is reused by the next session
            updates = {cid: u.astype(dtype) for cid, u in _inputs(50 + round_index).items()}
            agg.prepare(sorted(updates), vector_length=D)
            for cid in range(7):  # several batches in one session: rows are never overwritten
                agg.submit(cid, updates[cid])
            result = agg.aggregate(updates)
            assert agg._pool._pool._rows.dtype == np.dtype(dtype)
            assert result.included == frozenset(updates)
            _assert_exact(result, updates, agg)
        pooled = simulate({c: u.astype(np.float64) for c, u in _inputs(60).items()}, pool=agg._pool.get(),
                          clipping_range=CLIP, quantization_range=Q)
        assert pooled.included == frozenset(range(N))
    finally:
        agg.close()


@pytest.mark.parametrize("ids, options, error", [
    ([0], {}, InputError),                                   # one client cannot be summed securely
    ([0, 0, 1], {}, InputError),                             # duplicated id
    ([0, -1], {}, InputError),                               # negative id
    ([0, 1], {"vector_length": 0}, ShapeError),
    ([0, 1], {"vector_length": 2.5}, ShapeError),
    ([0, 1], {"input_kind": "int"}, ConfigError),
    ([0, 1], {"protocol": "secagg++"}, ConfigError),
    ([0, 1], {"dropouts": {7: Stage.MASKED_INPUT}}, InputError),  # unknown client
])
def test_make_session_refuses_bad_arguments(ids, options, error):
    from secagg.sim.session import make_session

    with pytest.raises(error):
        make_session(ids, **{"vector_length": D, **options})
