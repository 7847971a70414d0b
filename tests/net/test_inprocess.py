"""A server and threaded clients in this process: full rounds over gRPC + TLS, exact sums, and the
rejection of unauthenticated, replayed, malformed, oversized and garbage requests."""

from __future__ import annotations

import os
import time
from pathlib import Path

import grpc
import numpy as np
import pytest

pytest.importorskip("grpc")

from secagg.net.auth import ClientIdentity, new_counter, registration_bytes  # noqa: E402
from secagg.net.client import NetClient  # noqa: E402
from secagg.net.proto import secagg_net_pb2 as pb  # noqa: E402
from secagg.net.proto import secagg_net_pb2_grpc as pb_grpc  # noqa: E402
from secagg.net.store import Store  # noqa: E402
from secagg.protocol.stage import Stage  # noqa: E402

from .conftest import wait_for  # noqa: E402
from .helpers import ClientThreads, check_exact_sums, settings, start_server  # noqa: E402

# A bound on each RPC to the in-process server, never a speed requirement: every call here
# answers (or fails with the status the test expects) long before it, however busy the machine.
RPC_TIMEOUT = 60


def _stub(certs, port):
    ch = grpc.secure_channel(f"127.0.0.1:{port}", grpc.ssl_channel_credentials(certs.ca.read_bytes()))
    return ch, pb_grpc.AggregationStub(ch)


_INSTANCES: dict[bytes, bytes] = {}  # identity public key -> instance token of its registration


def _register(stub, ident: ClientIdentity, token: bytes = b"") -> int:
    c = new_counter()
    reply = stub.Register(pb.RegisterRequest(public_key=ident.public, enroll_token=token, counter=c,
                                             signature=ident.sign(registration_bytes(ident.public, token, c)),
                                             n_items=20, factors=3),  # settings()' model
                          timeout=RPC_TIMEOUT)
    _INSTANCES[ident.public] = reply.instance
    return reply.client_id


def _sign(ident: ClientIdentity, method: str, cid: int, request) -> None:
    """Sign ``request`` as the process that registered ``ident`` last."""
    request.instance = _INSTANCES[ident.public]
    ident.sign_request(method, cid, request)


def _rounds(db):
    s = Store(db)
    try:
        return s.rounds()
    finally:
        s.close()


def test_rounds_complete_with_exact_sums(tmp_path, certs):
    server = start_server(tmp_path, certs, settings(), rounds=2)
    clients = ClientThreads(tmp_path, certs, server.port, 6, dump=tmp_path / "dump")
    try:
        assert server.wait(60), "two rounds did not finish in 60 s"
    finally:
        clients.stop()
        server.stop()
    recs = _rounds(tmp_path / "server.db")
    assert [(r.round, r.status, len(r.included)) for r in recs] == [(1, "completed", 6), (2, "completed", 6)]
    assert recs[0].version_after == recs[1].version_before == 2 and recs[1].version_after == 3
    assert check_exact_sums(tmp_path / "server.db", tmp_path / "dump") == 2
    assert all(c.rounds_done == 2 for c in clients.clients)


class GarbageClient(NetClient):
    """Registered and sampled, but submits garbage instead of its share-keys reply."""

    statuses: list = []

    def _handle(self, task):
        if task.stage == int(Stage.SHARE_KEYS):
            self.have = (bytes(task.session_id), int(task.stage))
            for payload in (b"\x00garbage", os.urandom(300)):
                try:
                    self._call("Submit", pb.SubmitRequest(round=task.round, stage=task.stage,
                                                          session_id=task.session_id, reply=payload))
                except grpc.RpcError as exc:
                    GarbageClient.statuses.append((exc.code(), exc.details()))
            return
        super()._handle(task)


def test_bad_requests_are_rejected_and_the_round_completes(tmp_path, certs):
    s = settings(clients_per_round=6, min_clients=6, max_message_bytes=64 * 1024)
    server = start_server(tmp_path, certs, s, rounds=1)
    ch, stub = _stub(certs, server.port)
    GarbageClient.statuses = []
    honest = ClientThreads(tmp_path, certs, server.port, 5)
    bad = ClientThreads(tmp_path, certs, server.port, 1, cls=GarbageClient, first=5)
    try:
        assert server.wait(60), "the round did not finish"
        # the gRPC server keeps serving after its rounds: probe it with bad requests
        # unauthenticated: no auth, an unregistered key, a wrong signature
        with pytest.raises(grpc.RpcError) as e:
            stub.GetTask(pb.TaskRequest(), timeout=RPC_TIMEOUT)
        assert e.value.code() == grpc.StatusCode.UNAUTHENTICATED
        stranger = ClientIdentity()
        req = pb.TaskRequest(wait_ms=1)
        stranger.sign_request("GetTask", 999, req)
        with pytest.raises(grpc.RpcError) as e:
            stub.GetTask(req, timeout=RPC_TIMEOUT)
        assert e.value.code() == grpc.StatusCode.UNAUTHENTICATED and "not registered" in e.value.details()
        ident = ClientIdentity()
        cid = _register(stub, ident)
        req = pb.ModelRequest(version=0)
        _sign(ident, "GetModel", cid, req)
        forged = pb.ModelRequest()
        forged.CopyFrom(req)
        forged.auth.signature = bytes(64)
        with pytest.raises(grpc.RpcError) as e:
            stub.GetModel(forged, timeout=RPC_TIMEOUT)
        assert e.value.code() == grpc.StatusCode.UNAUTHENTICATED
        # the genuine request works once; its replay is refused
        assert stub.GetModel(req, timeout=RPC_TIMEOUT).version == 2
        with pytest.raises(grpc.RpcError) as e:
            stub.GetModel(req, timeout=RPC_TIMEOUT)
        assert e.value.code() == grpc.StatusCode.UNAUTHENTICATED and "replayed" in e.value.details()
        # a registration whose signature does not match its key
        c = new_counter()
        with pytest.raises(grpc.RpcError) as e:
            stub.Register(pb.RegisterRequest(public_key=ClientIdentity().public, counter=c,
                                             signature=ident.sign(registration_bytes(ident.public, b"", c))),
                          timeout=RPC_TIMEOUT)
        assert e.value.code() == grpc.StatusCode.UNAUTHENTICATED
        # oversized: rejected by gRPC before any handler runs
        big = pb.SubmitRequest(round=1, stage=0, session_id=b"x" * 16, reply=b"\0" * (128 * 1024))
        _sign(ident, "Submit", cid, big)
        with pytest.raises(grpc.RpcError) as e:
            stub.Submit(big, timeout=RPC_TIMEOUT)
        assert e.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        # bytes that are not a protobuf message at all
        raw = ch.unary_unary("/secagg.net.v1.Aggregation/Submit")
        with pytest.raises(grpc.RpcError) as e:
            raw(b"\xff\xff\xff\xff garbage", timeout=RPC_TIMEOUT)
        # (the thread-pool server says INTERNAL, the asyncio one UNKNOWN: gRPC fails the call
        # before any handler runs)
        assert e.value.code() in (grpc.StatusCode.INTERNAL, grpc.StatusCode.INVALID_ARGUMENT,
                                  grpc.StatusCode.UNKNOWN)
        # a registered client that is not in the round
        sub = pb.SubmitRequest(round=1, stage=0, session_id=b"x" * 16, reply=b"junk")
        _sign(ident, "Submit", cid, sub)
        with pytest.raises(grpc.RpcError) as e:
            stub.Submit(sub, timeout=RPC_TIMEOUT)
        assert e.value.code() in (grpc.StatusCode.FAILED_PRECONDITION, grpc.StatusCode.PERMISSION_DENIED)
    finally:
        honest.stop()
        bad.stop()
        server.stop()
        ch.close()
    codes = [c for c, _ in GarbageClient.statuses]
    assert codes and all(c == grpc.StatusCode.INVALID_ARGUMENT for c in codes[:1]), GarbageClient.statuses
    rec = _rounds(tmp_path / "server.db")[0]
    garbage_id = bad.clients[0].client_id
    assert rec.status == "completed" and garbage_id in rec.sampled and garbage_id not in rec.included
    assert len(rec.included) == 5


def test_enrolment_token_and_plaintext_are_refused(tmp_path, certs):
    server = start_server(tmp_path, certs, settings(), rounds=None, enroll_token=b"s3cret")
    ch, stub = _stub(certs, server.port)
    try:
        with pytest.raises(grpc.RpcError) as e:
            _register(stub, ClientIdentity(), b"wrong")
        assert e.value.code() == grpc.StatusCode.PERMISSION_DENIED
        assert _register(stub, ClientIdentity(), b"s3cret") >= 1
        plain = grpc.insecure_channel(f"127.0.0.1:{server.port}")
        with pytest.raises(grpc.RpcError) as e:
            pb_grpc.AggregationStub(plain).GetTask(pb.TaskRequest(), timeout=RPC_TIMEOUT)
        assert e.value.code() == grpc.StatusCode.UNAVAILABLE
        plain.close()
    finally:
        server.stop()
        ch.close()


def test_clients_refuse_older_model_versions(tmp_path, certs):
    server = start_server(tmp_path, certs, settings(), rounds=None)
    try:
        client = NetClient(f"127.0.0.1:{server.port}", ca=certs.ca, state_dir=tmp_path / "c",
                           trainer=None, model_shape=(20, 3), trust_server_keys=True)  # never trains here
        client.register()
        client.state["last_version"] = 5
        task = pb.Task(kind=pb.Task.STAGE, round=1, stage=0, session_id=b"s" * 16, model_version=3)
        assert client._start_round(task) is False and client.session is None
        client.close()
    finally:
        server.stop()


def test_rollback_republishes_a_kept_version(tmp_path, certs):
    from secagg.net.server import NetServer

    server = start_server(tmp_path, certs, settings(), rounds=2)
    clients = ClientThreads(tmp_path, certs, server.port, 6)
    try:
        assert server.wait(60)
    finally:
        clients.stop()
        server.stop()
    store = Store(tmp_path / "server.db")
    old = store.version(2)[0]
    store.close()
    from secagg.net.admin import rollback

    assert rollback(tmp_path / "server.db", 2).version == 4
    again = NetServer(settings(), db=tmp_path / "server.db", cert=certs.cert, key=certs.key,
                      open_enrolment=True)
    try:
        cur = again.coordinator.current
        assert cur.version == 4 and cur.hash == old.hash
        assert np.array_equal(cur.vector, old.vector)
    finally:
        again.stop()
    from secagg.net.status import summary

    s = summary(tmp_path / "server.db")
    assert s["rounds_completed"] == 2 and s["rollbacks"][0]["to_version"] == 2
    assert s["current_version"]["version"] == 4 and s["clients_registered"] == 6
    assert s["last_round"]["survivors"] == 6


def test_client_backs_off_while_the_server_is_unreachable(tmp_path, certs):
    import json
    import socket
    import threading

    from secagg.net import logs

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nothing listens here once the socket is closed

    def unreachable(name: str) -> tuple[NetClient, Path]:
        log = tmp_path / f"{name}.jsonl"
        return NetClient(f"127.0.0.1:{port}", ca=certs.ca, state_dir=tmp_path / name, trainer=None,
                         model_shape=(20, 3), trust_server_keys=True,
                         backoff=(0.05, 0.2), rpc_timeout=0.5,
                         logger=logs.get_logger(f"test.backoff.{name}", path=log)), log

    def waits_in(log: Path) -> list[float]:
        """The logged back-off delays (complete lines only: the client may be mid-write)."""
        if not log.exists():
            return []
        events = [json.loads(line) for line in log.read_text().split("\n")[:-1]]
        return [e["retry_in"] for e in events if e["event"] == "rpc_error"]

    def run_in_thread(client: NetClient, **kw) -> tuple[threading.Thread, list[int]]:
        out: list[int] = []
        thread = threading.Thread(target=lambda: out.append(client.run(**kw)), daemon=True)
        thread.start()
        return thread, out

    # the back-off doubles from its initial delay up to its cap: watched over as many failed
    # attempts as it takes (a count of attempts, not a number of seconds), then stopped
    client, log = unreachable("c")
    thread, out = run_in_thread(client)
    try:
        wait_for(lambda: len(waits_in(log)) >= 5, 120, "five failed attempts")
    finally:
        client.stop()
        thread.join(60)
    client.close()
    assert not thread.is_alive() and out == [0]
    waits = waits_in(log)
    assert len(waits) >= 3 and waits[:3] == [0.05, 0.1, 0.2] and max(waits) == 0.2

    # max_seconds ends the loop by itself (nobody calls stop()), and not before it has passed
    client, log = unreachable("d")
    t0 = time.monotonic()
    thread, out = run_in_thread(client, max_seconds=1.5)
    thread.join(120)
    elapsed = time.monotonic() - t0
    client.close()
    assert not thread.is_alive(), "run(max_seconds=1.5) did not return by itself"
    assert out == [0] and elapsed >= 1.5 and not client.stop_event.is_set()


def test_distributed_dp_rounds_are_exact_and_their_spending_survives_a_restart(tmp_path, certs):
    from secagg.dp.config import DPConfig
    from secagg.net.server import NetServer
    from secagg.net.status import summary

    dp = DPConfig(clip_norm=1.0, clients_per_round=6, num_users=60, rounds=10, noise_multiplier=1.0,
                  sampling="fixed")  # 6 of the 6 online: charged as 6 of 6 (no amplification)
    s = settings(dp=dp)
    server = start_server(tmp_path, certs, s, rounds=2)
    clients = ClientThreads(tmp_path, certs, server.port, 6, dump=tmp_path / "dump")
    try:
        assert server.wait(60), "two DP rounds did not finish"
    finally:
        clients.stop()
        server.stop()
    recs = _rounds(tmp_path / "server.db")
    assert [r.status for r in recs] == ["completed", "completed"]
    assert check_exact_sums(tmp_path / "server.db", tmp_path / "dump") == 2
    f = np.load(tmp_path / "dump" / f"r1_c{recs[0].included[0]}.npz")
    assert f["quantized"].dtype.kind == "u" and f["quantized"].size >= s.vector_length
    store = Store(tmp_path / "server.db")
    spent = store.privacy()
    v1, v2 = store.version(recs[0].version_before)[0], store.version(recs[0].version_after)[0]
    store.close()
    # FedAvg with server_lr 1: the model moved by the noisy mean; it is near the true mean
    n = len(recs[0].included)
    noisy_sum = (v2.vector.astype(np.float64) - v1.vector) * n
    true_sum = sum(np.load(tmp_path / "dump" / f"r1_c{c}.npz")["float_update"].astype(np.float64)
                   for c in recs[0].included)
    noise_std = dp.plan(s.vector_length, "offset").params.noise_std
    rms = float(np.sqrt(np.mean((noisy_sum - true_sum) ** 2)))
    assert 0.3 * noise_std < rms < 3 * noise_std + 1e-3, (rms, noise_std)
    assert [p["round"] for p in spent] == [1, 2]
    assert 0 < spent[0]["epsilon_release"] < spent[1]["epsilon_release"]
    assert spent[0]["mechanism"]["population"] == 6 and spent[0]["mechanism"]["sample_size"] == 6
    assert spent[1]["epsilon_server"] == pytest.approx(spent[1]["epsilon_release"], rel=1e-6)  # q = 1
    again = NetServer(s, db=tmp_path / "server.db", cert=certs.cert, key=certs.key, open_enrolment=True)
    try:
        assert again.coordinator.ledger.rounds == 2
        assert again.coordinator.ledger.epsilon() == pytest.approx(spent[1]["epsilon_release"])
    finally:
        again.stop()
    status = summary(tmp_path / "server.db")["privacy"]
    assert status["epsilon_release"] == pytest.approx(spent[1]["epsilon_release"])
    assert status["epsilon_server"] == pytest.approx(spent[1]["epsilon_server"])
    assert status["sampling"] == "fixed" and status["rounds_charged"] == 2


def test_slow_local_training_is_not_mistaken_for_a_dropout(tmp_path, certs):
    from .helpers import RandomTrainer

    liveness = 2.0  # seconds; the clients poll (and heartbeat while training) every 0.15 s

    class SlowTrainer(RandomTrainer):
        def train(self, model, config):
            # The thing under test: training outlasts the liveness window (twice over; a slow
            # machine only makes it longer). Only the heartbeats keep the clients in the round.
            time.sleep(2 * liveness)
            return super().train(model, config)

    server = start_server(tmp_path, certs, settings(clients_per_round=3, min_clients=3,
                                                    liveness_timeout=liveness), rounds=1)
    clients = ClientThreads(tmp_path, certs, server.port, 3)
    for c in clients.clients:
        c.trainer = SlowTrainer(c.trainer.rng.integers(1 << 30))
    try:
        assert server.wait(60)
    finally:
        clients.stop()
        server.stop()
    rec = _rounds(tmp_path / "server.db")[0]
    assert rec.status == "completed" and len(rec.included) == 3


def test_replayed_request_is_refused_after_a_server_restart(tmp_path, certs):
    """The last accepted counter of each client is durable: a request captured before a restart
    (still well inside the clock window) is refused after it; a fresh one from the client works."""
    from secagg.net.server import NetServer

    # The clock window is wide, so that however long this test takes the replays below stay
    # inside it: they must be refused as replays, not as stale.
    skew = 3600.0
    server = start_server(tmp_path, certs, settings(), rounds=None, max_skew=skew)
    ch, stub = _stub(certs, server.port)
    ident = ClientIdentity()
    try:
        cid = _register(stub, ident)
        captured = pb.ModelRequest(version=0)
        _sign(ident, "GetModel", cid, captured)
        assert stub.GetModel(captured, timeout=RPC_TIMEOUT).version == 1
        older = pb.ModelRequest(version=0)  # signed earlier than `later`, never sent before the restart
        _sign(ident, "GetModel", cid, older)
        later = pb.ModelRequest(version=0)
        _sign(ident, "GetModel", cid, later)
        assert stub.GetModel(later, timeout=RPC_TIMEOUT).version == 1
    finally:
        server.stop()
        ch.close()
    again = NetServer(settings(), db=tmp_path / "server.db", cert=certs.cert, key=certs.key,
                      max_skew=skew, open_enrolment=True).start(rounds=None)
    ch, stub = _stub(certs, again.port)
    try:
        for replay in (captured, later, older):  # every counter <= the last accepted one
            with pytest.raises(grpc.RpcError) as e:
                stub.GetModel(replay, timeout=RPC_TIMEOUT)
            assert e.value.code() == grpc.StatusCode.UNAUTHENTICATED and "replayed" in e.value.details()
            assert abs(replay.auth.counter - time.time_ns()) < skew / 2 * 10**9  # inside the clock window
        fresh = pb.ModelRequest(version=0)  # from the client's process, registered again
        with pytest.raises(grpc.RpcError) as e:  # the restarted server does not know the old process
            _sign(ident, "GetModel", cid, fresh)
            stub.GetModel(fresh, timeout=RPC_TIMEOUT)
        assert e.value.code() == grpc.StatusCode.FAILED_PRECONDITION and "register again" in e.value.details()
        assert _register(stub, ident) == cid
        fresh = pb.ModelRequest(version=0)
        _sign(ident, "GetModel", cid, fresh)
        assert stub.GetModel(fresh, timeout=RPC_TIMEOUT).version == 1
    finally:
        again.stop()
        ch.close()
    store = Store(tmp_path / "server.db")
    try:
        assert store.last_counters() == {cid: fresh.auth.counter}
    finally:
        store.close()
