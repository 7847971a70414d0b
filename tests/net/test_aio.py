"""The asyncio front end holds no thread per waiting client: 40 clients long-polling at once are
served by its fixed pool of worker threads. In process, a real gRPC server on 127.0.0.1."""

from __future__ import annotations

import threading

import pytest

grpc = pytest.importorskip("grpc")

from secagg.net.auth import ClientIdentity  # noqa: E402
from secagg.net.proto import secagg_net_pb2 as pb  # noqa: E402

from .conftest import wait_for  # noqa: E402
from .helpers import settings, start_server  # noqa: E402
from .test_inprocess import _register, _sign, _stub  # noqa: E402

WAITING = 40


def _rpc_threads() -> int:
    return sum(t.name.startswith("secagg-rpc") for t in threading.enumerate())


def test_waiting_clients_hold_no_threads(tmp_path, certs):
    workers = 4
    s = settings(clients_per_round=WAITING + 10, min_clients=WAITING + 10)  # no round starts
    server = start_server(tmp_path, certs, s, rounds=None, engine="aio", max_workers=workers)
    ch, stub = _stub(certs, server.port)
    polls = []
    try:
        ids = []
        for _ in range(WAITING):
            ident = ClientIdentity()
            cid = _register(stub, ident)
            req = pb.TaskRequest(wait_ms=30_000)
            _sign(ident, "GetTask", cid, req)
            polls.append(stub.GetTask.future(req, timeout=60))
            ids.append(cid)
        limiter = server.service.limiter
        wait_for(lambda: all(limiter.in_flight(c) == 1 for c in ids), 60, f"{WAITING} polls to be waiting")
        assert _rpc_threads() <= workers  # 40 waiting calls, at most `workers` threads
        assert not any(p.done() for p in polls)
    finally:
        for p in polls:
            p.cancel()
        server.stop()
        ch.close()
