"""One client holding many long-polls must not starve the others: the server refuses a client's
calls beyond its per-client limit at once (RESOURCE_EXHAUSTED), so the honest clients' round
completes while the flood goes on. In process: a real gRPC server on 127.0.0.1, honest client
threads, and a flooding identity driving the public wire API."""

from __future__ import annotations

import threading

import pytest

grpc = pytest.importorskip("grpc")

from secagg.net.auth import ClientIdentity  # noqa: E402
from secagg.net.proto import secagg_net_pb2 as pb  # noqa: E402

from .helpers import ClientThreads, settings, start_server  # noqa: E402
from .test_inprocess import _register, _sign, _stub  # noqa: E402

POLLS = 24  # the flood: 24 long-polls of one client against 12 RPC threads


class Flood:
    """Keeps ``POLLS`` 30-second long-polls of one registered identity in flight until stopped."""

    def __init__(self, stub, ident: ClientIdentity, cid: int) -> None:
        self.stub, self.ident, self.cid = stub, ident, cid
        self.codes: list[grpc.StatusCode] = []
        self.details: list[str] = []
        self.stop = threading.Event()
        self.threads = [threading.Thread(target=self._poll, daemon=True) for _ in range(POLLS)]
        for t in self.threads:
            t.start()

    def _poll(self) -> None:
        while not self.stop.is_set():
            req = pb.TaskRequest(wait_ms=30_000, have_session=b"\xff" * 16, have_stage=99)
            _sign(self.ident, "GetTask", self.cid, req)
            try:
                self.stub.GetTask(req, timeout=35)
                self.codes.append(grpc.StatusCode.OK)
                self.details.append("")
            except grpc.RpcError as exc:
                self.codes.append(exc.code())
                self.details.append(exc.details() or "")
            self.stop.wait(0.01)  # re-issue at once, as a flooding client would (not a busy loop)

    def end(self) -> None:
        self.stop.set()
        for t in self.threads:
            t.join(60)


def test_one_client_holding_many_long_polls_does_not_starve_the_round(tmp_path, certs):
    # the flooder is registered and online, so it may be sampled: it never answers, and the first
    # stage then waits for its deadline (liveness cannot tell, it keeps polling) - kept short here
    s = settings(clients_per_round=6, min_clients=6, training_timeout=10.0)
    server = start_server(tmp_path, certs, s, rounds=1, max_workers=12)
    ch, stub = _stub(certs, server.port)
    ident = ClientIdentity()
    flood = Flood(stub, ident, _register(stub, ident))
    honest = ClientThreads(tmp_path, certs, server.port, 6)
    try:
        assert server.wait(120), "the honest clients' round did not finish under the flood"
    finally:
        flood.end()
        honest.stop()
        server.stop()
        ch.close()
    from .test_inprocess import _rounds

    (rec,) = _rounds(tmp_path / "server.db")
    honest_ids = {c.client_id for c in honest.clients}
    assert rec.status == "completed" and honest_ids & set(rec.sampled) <= set(rec.included)
    refused = [d for c, d in zip(flood.codes, flood.details) if c == grpc.StatusCode.RESOURCE_EXHAUSTED]
    assert refused and all(d.startswith("TooManyCallsError") for d in refused), set(flood.details)
