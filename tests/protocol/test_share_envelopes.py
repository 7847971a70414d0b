"""Share envelopes in round 2: a neighbour that encrypts malformed shares (a valid ciphertext under
the right key and associated data) is named in the receiver's reply, which refuses its shares and
stays in the round; well-formed envelopes are held as sent and revealed unchanged in round 4,
where the server names the owner of a malformed revealed share and refuses inconsistent ones."""

from __future__ import annotations

import dataclasses
import struct

import msgpack
import numpy as np
import pytest

from secagg.core import shamir
from secagg.core.crypto import encrypt
from secagg.errors import ConsistencyError, InvalidMessageError
from secagg.protocol.client import ClientState, SecAggClient
from secagg.protocol.config import SessionConfig
from secagg.protocol.messages import UnmaskingReply, decode
from secagg.protocol.server import SecAggServer
from secagg.protocol.transcript import share_aad

N, T, D = 4, 3, 8
P = (1 << 61) - 1


def to_masked_input() -> tuple[SessionConfig, dict[int, SecAggClient], SecAggServer, dict[int, bytes]]:
    cfg = SessionConfig(client_ids=tuple(range(N)), graph_kind="complete", degree=N - 1,
                        threshold=T, modulus_range=2**16, vector_length=D, clipping_range=1.0,
                        quantization_range=2**8)
    server = SecAggServer(cfg)
    clients = {c: SecAggClient(c, np.zeros(D)) for c in range(N)}
    requests = server.start()
    for _ in range(2):  # advertise keys, share keys
        for cid, request in requests.items():
            server.receive(cid, clients[cid].handle(request))
        requests = server.advance()
    return cfg, clients, server, requests


def forged(cfg: SessionConfig, clients: dict[int, SecAggClient], request: bytes, sender: int,
           receiver: int, fields: list) -> bytes:
    """``request`` with ``sender``'s ciphertext replaced by a valid encryption of ``fields``."""
    key = clients[sender].ctx.share_keys[receiver]
    blob = encrypt(key, msgpack.packb(fields, use_bin_type=True),
                   share_aad(clients[sender].ctx.sid, sender, receiver))
    m = decode(request)
    return dataclasses.replace(m, ciphertexts={**m.ciphertexts, sender: blob}).to_bytes()


def good_share() -> bytes:
    return shamir.split_to_bytes(bytes(32), 2, 3)[0]


def bad_shares() -> list:
    good = good_share()
    return [good[:-1], good + b"\0", b"\x02" + good[1:], good[:1] + struct.pack("<I", 0) + good[5:],
            good[:-8] + struct.pack("<Q", P), "x" * len(good), 7]


@pytest.mark.parametrize("position", [2, 3])
@pytest.mark.parametrize("bad", range(len(bad_shares())))
def test_malformed_share_in_a_valid_envelope_names_the_sender(position, bad):
    # the receiver refuses the sender's shares and goes on (one bad sender must not take it out)
    cfg, clients, _, requests = to_masked_input()
    fields = [0, 1, good_share(), good_share()]
    fields[position] = bad_shares()[bad]
    reply = decode(clients[1].handle(forged(cfg, clients, requests[1], 0, 1, fields)))
    assert reply.refused == (0,)
    assert clients[1].state is not ClientState.ABORTED and 0 not in clients[1].ctx.held


@pytest.mark.parametrize("fields", [[1, 1, b"", b""], [0, 2, b"", b""], [0, 1, b""], "text", 5])
def test_bad_envelope_is_refused(fields):
    cfg, clients, _, requests = to_masked_input()
    if isinstance(fields, list) and len(fields) == 4:
        fields = fields[:2] + [good_share(), good_share()]
    reply = decode(clients[1].handle(forged(cfg, clients, requests[1], 0, 1, fields)))
    assert reply.refused == (0,) and 0 not in clients[1].ctx.held


def test_held_shares_are_revealed_as_received():
    cfg, clients, server, requests = to_masked_input()
    sent = {}  # what sender 0 put in its envelope to client 1 (decrypted by client 1 below)
    for cid, request in requests.items():
        server.receive(cid, clients[cid].handle(request))
    for owner, (b_share, s_share) in clients[1].ctx.held.items():
        assert shamir.Share.from_bytes(b_share).threshold == T
        assert shamir.Share.from_bytes(s_share).split_id != shamir.Share.from_bytes(b_share).split_id
        sent[owner] = b_share
    requests = server.advance()
    reply = decode(clients[1].handle(requests[1]))
    assert isinstance(reply, UnmaskingReply) and reply.self_mask_shares == sent
    for cid, request in requests.items():
        if cid != 1:
            server.receive(cid, clients[cid].handle(request))
    server.receive(1, reply.to_bytes())
    server.advance()
    assert server.result is not None and server.result.included == frozenset(range(N))


def unmasking_replies() -> tuple[SecAggServer, dict[int, UnmaskingReply]]:
    _, clients, server, requests = to_masked_input()
    for cid, request in requests.items():
        server.receive(cid, clients[cid].handle(request))
    requests = server.advance()
    return server, {cid: decode(clients[cid].handle(r)) for cid, r in requests.items()}


@pytest.mark.parametrize("bad", range(len(bad_shares()) - 2))  # the last two are not bytes
@pytest.mark.parametrize("holder", [0, 3])
def test_server_names_the_owner_of_a_malformed_revealed_share(bad, holder):
    server, replies = unmasking_replies()
    r = replies[holder]
    replies[holder] = UnmaskingReply(r.session_id, r.client_id,
                                     {**r.self_mask_shares, 2: bad_shares()[bad]}, r.key_shares)
    for cid, reply in replies.items():
        server.receive(cid, reply.to_bytes())
    with pytest.raises(InvalidMessageError, match="a self-mask share of client 2 is malformed"):
        server.advance()


def test_server_refuses_inconsistent_revealed_shares():
    server, replies = unmasking_replies()
    r = replies[1]
    share = shamir.Share.from_bytes(r.self_mask_shares[0])
    words = list(struct.unpack("<8Q", share.value))
    words[0] = (words[0] + 1) % P  # a well-formed share of another polynomial
    forged_share = shamir.Share(share.index, share.threshold, share.split_id,
                                struct.pack("<8Q", *words)).to_bytes()
    replies[1] = UnmaskingReply(r.session_id, r.client_id,
                                {**r.self_mask_shares, 0: forged_share}, r.key_shares)
    for cid, reply in replies.items():
        server.receive(cid, reply.to_bytes())
    with pytest.raises(ConsistencyError, match="self-mask shares are inconsistent"):
        server.advance()
