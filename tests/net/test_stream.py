"""The task stream (``Sessions.Session``): rounds over it, every check of the unary calls on its
messages, one stream per client, and the clients' fallback to unary calls. In process: a real
gRPC server on 127.0.0.1; adversaries drive the public wire API by hand."""

from __future__ import annotations

import queue

import pytest

grpc = pytest.importorskip("grpc")

from secagg.net.auth import ClientIdentity  # noqa: E402
from secagg.net.proto import secagg_net_pb2 as pb  # noqa: E402

from .conftest import wait_for  # noqa: E402
from .helpers import ClientThreads, check_exact_sums, settings, start_server  # noqa: E402
from .test_inprocess import RPC_TIMEOUT, _register, _rounds, _sign, _stub  # noqa: E402


class RawStream:
    """A hand-driven ``Session`` stream: ``send`` client messages, ``recv`` what the server sends."""

    def __init__(self, channel, first: pb.ClientMessage) -> None:
        self.out: queue.SimpleQueue = queue.SimpleQueue()
        self.out.put(first)
        call = channel.stream_stream("/secagg.net.v1.Sessions/Session",
                                     request_serializer=pb.ClientMessage.SerializeToString,
                                     response_deserializer=pb.ServerMessage.FromString)
        self.call = call(iter(self.out.get, None), timeout=RPC_TIMEOUT)

    def send(self, message: pb.ClientMessage) -> None:
        self.out.put(message)

    def recv(self) -> pb.ServerMessage:
        return next(self.call)

    def status(self) -> tuple[grpc.StatusCode, str]:
        """The status the stream ends with (reading past everything the server still sends)."""
        try:
            for _ in self.call:
                pass
        except grpc.RpcError as exc:
            return exc.code(), exc.details() or ""
        return grpc.StatusCode.OK, ""

    def close(self) -> None:
        self.out.put(None)
        self.call.cancel()


def _hello(ident: ClientIdentity, cid: int, method: str = "Session") -> pb.ClientMessage:
    req = pb.TaskRequest()
    _sign(ident, method, cid, req)
    return pb.ClientMessage(hello=req)


def _counts(server) -> dict[tuple[str, str], int]:
    return server.requests.snapshot()


def test_rounds_over_streams_need_no_polls(tmp_path, certs):
    server = start_server(tmp_path, certs, settings(), rounds=2)
    clients = ClientThreads(tmp_path, certs, server.port, 6, dump=tmp_path / "dump")
    try:
        assert server.wait(120), "two rounds did not finish in 120 s"
    finally:
        clients.stop()
        server.stop()
    recs = _rounds(tmp_path / "server.db")
    assert [(r.status, len(r.included)) for r in recs] == [("completed", 6), ("completed", 6)]
    assert check_exact_sums(tmp_path / "server.db", tmp_path / "dump") == 2
    counts = _counts(server)
    assert counts.get(("Session/Submit", "OK"), 0) >= 2 * 6 * 5  # every reply travelled on a stream
    assert counts.get(("Session/GetModel", "OK"), 0) >= 2 * 6
    assert not any(method in ("GetTask", "Submit", "GetModel") for method, _ in counts)
    assert {status for (method, status) in counts if method.startswith("Session/")} == {"OK"}  # none refused
    assert all(c.transport == "stream" for c in clients.clients)


@pytest.fixture
def idle_server(tmp_path, certs):
    """A server waiting for more clients than will come (no round starts), and a channel to it."""
    server = start_server(tmp_path, certs, settings(clients_per_round=50, min_clients=50,
                                                    calls_per_client=2), rounds=None)
    ch, stub = _stub(certs, server.port)
    yield server, ch, stub
    ch.close()
    server.stop()


def test_stream_opens_only_with_a_valid_hello(idle_server):
    server, ch, stub = idle_server
    ident = ClientIdentity()
    cid = _register(stub, ident)
    no_hello = RawStream(ch, pb.ClientMessage(submit=pb.SubmitRequest()))
    assert no_hello.status()[0] == grpc.StatusCode.INVALID_ARGUMENT
    wrong_method = RawStream(ch, _hello(ident, cid, method="GetTask"))  # signed for another call
    assert wrong_method.status()[0] == grpc.StatusCode.UNAUTHENTICATED
    other = ClientIdentity()
    forged = _hello(other, _register(stub, other))
    forged.hello.auth.client_id = cid  # another key's signature, presented as this client's
    assert RawStream(ch, forged).status()[0] == grpc.StatusCode.UNAUTHENTICATED
    hello = _hello(ident, cid)
    first = RawStream(ch, hello)
    wait_for(lambda: cid in server.coordinator.streaming, 60, "the stream to open")
    replayed = RawStream(ch, hello)  # the same signed hello again: its counter is spent
    code, details = replayed.status()
    assert code == grpc.StatusCode.UNAUTHENTICATED and "replayed" in details
    first.close()


def test_every_stream_message_is_checked_like_its_unary_call(idle_server):
    server, ch, stub = idle_server
    a, b = ClientIdentity(), ClientIdentity()
    cid_a, cid_b = _register(stub, a), _register(stub, b)

    stream = RawStream(ch, _hello(a, cid_a))
    req = pb.ModelRequest(version=0)
    _sign(a, "Session/GetModel", cid_a, req)
    stream.send(pb.ClientMessage(model=req))
    reply = stream.recv()
    assert reply.WhichOneof("body") == "model" and reply.model.version == 1
    stream.send(pb.ClientMessage(model=req))  # the same message again: a replay
    code, details = stream.status()
    assert code == grpc.StatusCode.UNAUTHENTICATED and "replayed" in details

    stream = RawStream(ch, _hello(a, cid_a))
    req = pb.ModelRequest(version=0)
    _sign(a, "GetModel", cid_a, req)  # signed for the unary call, not for the stream
    stream.send(pb.ClientMessage(model=req))
    assert stream.status()[0] == grpc.StatusCode.UNAUTHENTICATED

    stream = RawStream(ch, _hello(a, cid_a))
    req = pb.ModelRequest(version=0)
    _sign(b, "Session/GetModel", cid_b, req)  # valid, but another client's, on a's stream
    stream.send(pb.ClientMessage(model=req))
    assert stream.status()[0] == grpc.StatusCode.PERMISSION_DENIED

    stream = RawStream(ch, _hello(a, cid_a))
    req = pb.SubmitRequest(round=1, stage=0, session_id=b"\x00" * 32, reply=b"garbage")
    _sign(a, "Session/Submit", cid_a, req)
    stream.send(pb.ClientMessage(submit=req))  # no round is collecting replies
    assert stream.status()[0] == grpc.StatusCode.FAILED_PRECONDITION


def test_one_stream_per_client(idle_server):
    server, ch, stub = idle_server
    ident = ClientIdentity()
    cid = _register(stub, ident)
    first = RawStream(ch, _hello(ident, cid))
    wait_for(lambda: server.coordinator.streaming.get(cid) == 1, 60, "the first stream")
    second = RawStream(ch, _hello(ident, cid))  # the same process again: it replaces the first
    code, details = first.status()
    assert code == grpc.StatusCode.ABORTED and "replaced" in details
    wait_for(lambda: server.coordinator.streaming.get(cid) == 1, 60, "one stream left")
    # the open stream holds one of the client's 2 call slots: a unary call still fits, not two more
    assert server.service.limiter.in_flight(cid) == 1
    # a newer registration of the identity fences off the older process's stream at once
    _register(stub, ident)
    code, details = second.status()
    assert code == grpc.StatusCode.FAILED_PRECONDITION and details.startswith("DuplicateIdentityError")


def test_clients_fall_back_to_unary_calls_without_the_stream(tmp_path, certs):
    server = start_server(tmp_path, certs, settings(), rounds=1, engine="threads")
    clients = ClientThreads(tmp_path, certs, server.port, 6)
    try:
        assert server.wait(120), "the round did not finish in 120 s"
    finally:
        clients.stop()
        server.stop()
    assert [r.status for r in _rounds(tmp_path / "server.db")] == ["completed"]
    assert all(c.transport == "unary" for c in clients.clients)
