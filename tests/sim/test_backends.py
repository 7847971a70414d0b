"""Every client backend gives the sums of in-process clients, bit for bit, with the same errors.

``client_backend`` (tests/conftest.py) is each backend in turn: in process, then 2 Ray actors on one
shared local Ray instance (skipped with a reason where Ray is absent).
"""

from __future__ import annotations

import dataclasses
import pickle
import secrets

import numpy as np
import pytest
from protocol.helpers import quantized_sum

from secagg import create_aggregator
from secagg.errors import (
    ClientGroupError,
    ConfigError,
    DependencyError,
    InputError,
    InvalidMessageError,
    SeedError,
    ShapeError,
    ThresholdError,
    UnsafeRequestError,
)
from secagg.protocol.config import NoisePlan
from secagg.protocol.stage import Stage
from secagg.sim import make_backend, simulate
from secagg.sim.backends import InProcessBackend, RayBackend

N, D = 12, 300
CLIP, Q = 1.0, 2**12


def _inputs(seed: int = 0) -> dict[int, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {cid: rng.uniform(-CLIP, CLIP, D) for cid in range(N)}


def _assert_exact(result, updates, agg) -> None:
    """The aggregate is the exact sum of the included clients' updates, up to their rounding."""
    exact = sum(updates[c].astype(np.float64) for c in result.included)
    assert np.abs(result.total - exact).max() <= agg.error_bound(len(result.included))


@pytest.mark.parametrize("threat_model", ["honest-but-curious", "active"])
@pytest.mark.parametrize("protocol", ["secagg", "secagg+"])
def test_backend_gives_the_exact_sum_of_in_process_clients(client_backend, protocol, threat_model):
    updates = _inputs()
    seeds = {cid: secrets.token_bytes(32) for cid in updates}
    drop = {3: Stage.MASKED_INPUT, 7: Stage.UNMASKING}
    kwargs = dict(protocol=protocol, threat_model=threat_model, dropouts=drop, clipping_range=CLIP,
                  quantization_range=Q, rounding_seeds=seeds, dropout_fraction=0.2)
    local = simulate(updates, **kwargs)
    hosted = simulate(updates, backend=client_backend, **kwargs)
    assert hosted.included == local.included == frozenset(set(updates) - {3})
    expect = quantized_sum(updates, seeds, hosted.included, clipping_range=CLIP, quantization_range=Q,
                           modulus_range=hosted.config.modulus_range)
    np.testing.assert_array_equal(hosted.quantized_sum, expect)
    np.testing.assert_array_equal(hosted.quantized_sum, local.quantized_sum)
    assert hosted.bytes_sent.keys() == local.bytes_sent.keys()
    assert all(hosted.client_seconds[cid] > 0 for cid in updates if cid != 3)
    assert hosted.seconds["client_cpu"] > 0


def test_in_kernel_noise_matches_in_process(client_backend):
    rng = np.random.default_rng(1)
    updates = {cid: rng.integers(0, 100, D).astype(np.uint32) for cid in range(N)}
    plans = {cid: NoisePlan(50.0, secrets.token_bytes(32)) for cid in updates}
    kwargs = dict(protocol="secagg+", quantization_range=101, noise_plans=plans)
    np.testing.assert_array_equal(simulate(updates, backend=client_backend, **kwargs).quantized_sum,
                                  simulate(updates, **kwargs).quantized_sum)


def test_a_client_that_fails_fails_alone_with_its_typed_error(client_backend):
    updates = _inputs(2)

    def truncate_to_client_5(stage, direction, cid, data):  # a corrupted request reaches client 5
        return data[:-3] if (stage, direction, cid) == (Stage.SHARE_KEYS, "request", 5) else data

    options = dict(protocol="secagg+", tamper=truncate_to_client_5, clipping_range=CLIP, quantization_range=Q,
                   dropout_fraction=0.2)
    hosted, local = simulate(updates, backend=client_backend, **options), simulate(updates, **options)
    assert isinstance(hosted.client_errors[5], InvalidMessageError)
    assert type(hosted.client_errors[5]) is type(local.client_errors[5])
    assert hosted.included == local.included == frozenset(set(updates) - {5})
    exact = sum(updates[c] for c in hosted.included)
    assert np.abs(hosted.total - exact).max() <= len(hosted.included) * 2 * CLIP / (Q - 1) + 1e-9


def test_an_unsafe_request_is_refused_where_the_client_runs(client_backend):
    from secagg.protocol.messages import decode

    def tamper(stage, direction, cid, data):
        if stage is Stage.UNMASKING and direction == "request" and cid == 0:
            msg = decode(data)  # ask for a survivor's self-mask share AND its key share
            survivor = sorted(msg.survivors)[1]
            return dataclasses.replace(msg, dropped=tuple(sorted({*msg.dropped, survivor}))).to_bytes()
        return data

    result = simulate(_inputs(3), protocol="secagg", backend=client_backend, tamper=tamper, clipping_range=CLIP,
                      quantization_range=Q)
    assert isinstance(result.client_errors[0], UnsafeRequestError)


def test_an_abort_below_threshold_leaves_the_backend_usable(client_backend):
    updates = _inputs(4)
    drop = {cid: Stage.MASKED_INPUT for cid in range(N - 1)}  # t = 2 for n = 12
    with pytest.raises(ThresholdError) as info:
        simulate(updates, protocol="secagg", backend=client_backend, dropouts=drop, clipping_range=CLIP,
                 quantization_range=Q)
    assert info.value.stage is not None
    assert simulate(updates, protocol="secagg", backend=client_backend, clipping_range=CLIP,
                    quantization_range=Q).included == frozenset(updates)


def test_a_bad_secret_is_refused_before_any_work(client_backend):
    options = dict(rounding_seeds={0: b"short"}, clipping_range=CLIP, quantization_range=Q)
    for where in ({"backend": client_backend}, {}):
        with pytest.raises(SeedError, match="rounding_seeds"):
            simulate(_inputs(6), **where, **options)


def test_submitted_updates_are_summed_exactly_over_rounds(client_backend):
    agg = create_aggregator("secagg+", clipping_range=CLIP, quantization_range=Q, backend=client_backend,
                            dropout_fraction=0.2)
    try:
        for round_index in range(2):  # the backend is reused across rounds
            updates = {cid: u.astype(np.float32) for cid, u in _inputs(20 + round_index).items()}
            drop = {2: Stage.MASKED_INPUT, 5: Stage.UNMASKING, 8: Stage.SHARE_KEYS}
            agg.prepare(sorted(updates), vector_length=D, dropouts=drop, round_index=round_index)
            for cid in sorted(updates)[:8]:  # 8 devices finish early, the rest come with aggregate()
                agg.submit(cid, updates[cid])
            result = agg.aggregate(updates, dropouts=drop, round_index=round_index)
            assert result.included == frozenset(set(updates) - {2, 8})
            _assert_exact(result, updates, agg)
            assert (result.seconds["worker_cpu"] > 0) is client_backend.remote
    finally:
        agg.close()  # a backend given ready-built stays the caller's
    assert simulate(_inputs(21), backend=client_backend).included == frozenset(range(N))


def test_a_prepared_round_must_get_the_prepared_clients(client_backend):
    agg = create_aggregator("secagg+", clipping_range=CLIP, quantization_range=Q, backend=client_backend)
    try:
        updates = _inputs(12)
        agg.prepare(sorted(updates)[:-1], vector_length=D)
        with pytest.raises(InputError, match="prepare"):
            agg.aggregate(updates)
        agg.prepare(sorted(updates), vector_length=D)
        agg.submit(0, updates[0])
        changed = dict(updates)
        changed[0] = updates[0] + 0.5
        with pytest.raises(InputError, match="differ"):
            agg.aggregate(changed)
        assert agg.aggregate(updates).included == frozenset(updates)  # nothing left behind
    finally:
        agg.close()


def test_an_abort_during_setup_is_raised_by_aggregate(client_backend):
    agg = create_aggregator("secagg", clipping_range=CLIP, quantization_range=Q, backend=client_backend)
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


def test_ray_runs_key_agreement_in_the_background_before_the_inputs_exist(ray_instance):
    agg = create_aggregator("secagg+", clipping_range=CLIP, quantization_range=Q, backend="ray",
                            backend_options={"groups": 2})
    try:
        updates = _inputs(10)
        agg.prepare(sorted(updates), vector_length=D)
        prepared = agg._prepared
        prepared._inbox.put(None)
        prepared._thread.join(timeout=120)  # the setup ends on its own: it needs no input
        assert prepared.session.server.stage is Stage.MASKED_INPUT
        prepared._thread = None
        assert agg.aggregate(updates).included == frozenset(updates)
        actors = list(agg._backend.get()._actors)
        assert len(actors) == 2
    finally:
        agg.close()
    assert agg._backend._backend is None  # built from a name: close() killed its actors
    with pytest.raises(ray_instance.exceptions.RayActorError):
        ray_instance.get(actors[0].ready.remote(), timeout=60)


def test_a_killed_actor_is_a_clear_error_naming_its_group_and_the_next_session_starts_fresh(ray_instance):
    updates = _inputs(5)
    options = dict(protocol="secagg+", clipping_range=CLIP, quantization_range=Q)
    with RayBackend(groups=2) as backend:
        simulate(updates, backend=backend, **options)
        ray_instance.kill(backend._actors[1])  # between sessions: replaced without a fuss
        assert simulate(updates, backend=backend, **options).included == frozenset(updates)
        first = list(backend._actors)

        def kill_mid_session(stage, direction, cid, data):
            if stage is Stage.MASKED_INPUT and direction == "request" and cid == 0:
                ray_instance.kill(backend._actors[0])  # group 0 hosts clients 0, 2, 4, ...
            return data

        with pytest.raises(ClientGroupError, match=r"client group 0 \(clients 0, 2, 4") as info:
            simulate(updates, backend=backend, tamper=kill_mid_session, **options)
        assert info.value.group == 0
        assert backend._actors == []  # every actor of the lost session is dropped
        assert simulate(updates, backend=backend, **options).included == frozenset(updates)
        assert not set(map(id, backend._actors)) & set(map(id, first))


def test_a_bug_in_an_actor_is_a_client_group_error_and_the_backend_restarts(ray_instance):
    with RayBackend(groups=2) as backend:
        with pytest.raises(ClientGroupError, match="AttributeError"):
            backend.begin({0: None, 1: None})  # not ClientSpecs: the actor fails with a traceback
        assert backend._actors == []
        result = simulate(_inputs(40), protocol="secagg", backend=backend, clipping_range=CLIP, quantization_range=Q)
        assert result.included == frozenset(range(N))


def test_a_backend_by_name_is_built_for_the_session_and_closed_after_it():
    result = simulate(_inputs(7), backend="inprocess", clipping_range=CLIP, quantization_range=Q)
    assert result.included == frozenset(range(N))


@pytest.mark.parametrize("call", [
    lambda: simulate(_inputs(), backend="rya"),
    lambda: simulate(_inputs(), backend="inprocess", backend_options={"groups": 2}),
    lambda: simulate(_inputs(), backend="ray", backend_options={"adress": "auto"}),
    lambda: simulate(_inputs(), backend=InProcessBackend(), backend_options={"groups": 2}),
    lambda: create_aggregator("secagg+", backend="processes"),
    lambda: create_aggregator("secagg", backend="ray", backend_options={"grups": 2}),
    lambda: make_backend("ray", {"groups": 0}),
    lambda: make_backend("ray", {"address": "auto", "num_cpus": 2}),
])
def test_unknown_backends_and_options_are_refused_naming_the_valid_ones(call):
    with pytest.raises(ConfigError) as info:
        call()
    message = str(info.value)
    assert any(word in message for word in ("'inprocess', 'ray'", "did you mean", "options are", "groups",
                                            "already built", "num_cpus"))


def test_backend_names_are_checked_by_every_aggregator_that_hosts_clients():
    pytest.importorskip("tenseal")
    with pytest.raises(ConfigError, match="'inprocess', 'ray'"):
        create_aggregator("he-bfv", backend="rayy")


def test_without_ray_the_ray_backend_is_a_dependency_error(monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "ray", None)  # as if not installed
    with pytest.raises(DependencyError, match=r"secagg\[ray\]"):
        RayBackend()


def test_errors_survive_pickling():
    err = pickle.loads(pickle.dumps(ThresholdError("too few", stage="UNMASKING", survivors=3, threshold=4)))
    assert (str(err), err.stage, err.survivors, err.threshold) == ("too few", "UNMASKING", 3, 4)
    lost = pickle.loads(pickle.dumps(ClientGroupError("group 3 lost", group=3)))
    assert (str(lost), lost.group) == ("group 3 lost", 3)


def test_a_round_of_one_client_is_refused():
    agg = create_aggregator("secagg+", clipping_range=CLIP, quantization_range=Q)
    agg.prepare([3], vector_length=D)
    with pytest.raises(ThresholdError):
        agg.aggregate({3: np.zeros(D)})


def test_client_input_arrives_late_and_is_checked():
    from secagg.errors import ProtocolError
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
    with pytest.raises(InputError, match="not part"):
        session.clients.provide({7: np.zeros(D)})
    result = session.finish({1: np.full(D, 0.5), 2: np.full(D, 0.25)})  # 0 never got a valid input
    assert isinstance(result.client_errors[0], ProtocolError)
    assert result.included == frozenset({1, 2})
    np.testing.assert_allclose(result.total, 0.75, atol=2 * 2 / (2**16 - 1))


@pytest.mark.parametrize("ids, options, error", [
    ([0], {}, InputError),                                   # one client cannot be summed securely
    ([0, 0, 1], {}, InputError),                             # duplicated id
    ([0, -1], {}, InputError),                               # negative id
    ([0, 1], {"vector_length": 0}, ShapeError),
    ([0, 1], {"vector_length": 2.5}, ShapeError),
    ([0, 1], {"input_kind": "int"}, ConfigError),
    ([0, 1], {"protocol": "secagg++"}, ConfigError),
    ([0, 1], {"dropouts": {7: Stage.MASKED_INPUT}}, InputError),  # unknown client
    ([0, 1], {"backend": "Ray"}, ConfigError),
])
def test_make_session_refuses_bad_arguments(ids, options, error):
    from secagg.sim.session import make_session

    with pytest.raises(error):
        make_session(ids, **{"vector_length": D, **options})
