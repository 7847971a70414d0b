"""Secrets hygiene: a client forgets its session's secrets when the session ends, either way."""

from __future__ import annotations

import numpy as np

from secagg.core.crypto import IdentityKey
from secagg.protocol.client import ClientState, SecAggClient
from secagg.protocol.config import SessionConfig
from secagg.protocol.server import SecAggServer

N, D = 6, 8


def forgot_everything(client: SecAggClient, *, but_the_masking_key: bool = False) -> bool:
    ctx = client.ctx
    masking_key_kept = ctx.s_keys is not None
    return (ctx.c_keys is None and masking_key_kept == but_the_masking_key and ctx.self_seed is None
            and ctx.own_shares is None
            and ctx.held == {} and ctx.share_keys == {} and ctx.update is None and ctx.noise is None
            and ctx.rounding_seed is None and ctx.graph_nonce is None)


def session(active: bool):
    ids = {c: IdentityKey() for c in range(N)}
    registry = {c: k.public for c, k in ids.items()} if active else {}
    cfg = SessionConfig(client_ids=tuple(range(N)), graph_kind="complete", degree=N - 1, threshold=4,
                        modulus_range=2**16, vector_length=D, clipping_range=1.0, quantization_range=2**8,
                        threat_model="active" if active else "honest-but-curious")
    clients = {c: SecAggClient(c, np.full(D, 0.5), rounding_seed=bytes(32), identity=ids[c] if active else None,
                               identity_registry=registry) for c in range(N)}
    return SecAggServer(cfg, identity_registry=registry), clients


def test_a_completed_client_holds_no_secret():
    for active in (False, True):
        server, clients = session(active)
        requests = server.start()
        while requests:
            for cid, request in requests.items():
                server.receive(cid, clients[cid].handle(request))
            requests = server.advance()
        assert server.result is not None
        for client in clients.values():
            if active:  # it keeps its masking key pair for a possible exclusion request, nothing else
                assert client.state is ClientState.EXCLUSION and forgot_everything(client, but_the_masking_key=True)
            else:
                assert client.state is ClientState.COMPLETED and forgot_everything(client)


def test_an_aborted_client_holds_no_secret():
    server, clients = session(True)
    requests = server.start()
    for _ in range(2):  # advertise keys and share keys
        for cid, request in requests.items():
            server.receive(cid, clients[cid].handle(request))
        requests = server.advance()
    for cid, request in requests.items():  # masked input: every client now holds keys, seed and shares
        server.receive(cid, clients[cid].handle(request))
    assert clients[0].ctx.self_seed is not None and clients[0].ctx.held
    for cid, message in server.abort("test").items():
        clients[cid].handle(message)
    assert all(c.state is ClientState.ABORTED and forgot_everything(c) for c in clients.values())
