"""Round 1: fix the session id (and, in active SecAgg+, the graph from the revealed nonces), check the
neighbours' keys, draw the self-mask seed, Shamir-share it and the masking key with the closed
neighbourhood, send each share pair encrypted to its holder - and, in the active model, commit to
the seed and to every share with a signature."""

from __future__ import annotations

from collections.abc import Mapping

import msgpack

from ...core import shamir
from ...core.crypto import encrypt, random_seed, share_key, verify
from ...errors import ConsistencyError, ThresholdError, UnknownClientError, UnsafeRequestError
from ..graphseed import derive_seed, max_left_out, nonce_commitment
from ..messages import ShareKeysReply, ShareKeysRequest
from ..stage import Stage
from ..transcript import (
    advertise_transcript,
    cohort_digest,
    commitment_transcript,
    seed_commitment,
    session_id,
    share_aad,
    share_hash_pair,
)
from .context import ClientContext


def _seed_from_reveals(ctx: ClientContext, nonces: Mapping[int, bytes]) -> bytes:
    """Active SecAgg+: check every revealed nonce against its commitment and how many committed
    clients were left out; returns the graph seed."""
    me, cohort = ctx.client_id, ctx.cohort
    if nonces.get(me) != ctx.graph_nonce:
        raise ConsistencyError(f"the revealed nonces do not hold client {me}'s own")
    for cid, nonce in nonces.items():
        if cid not in cohort:
            raise UnknownClientError(f"a nonce was revealed for client {cid}, which is not in the cohort")
        if nonce_commitment(ctx.first_id, cid, nonce) != cohort[cid][2]:
            raise ConsistencyError(f"client {cid}'s revealed nonce does not match its commitment")
    left_out, allowed = len(cohort) - len(nonces), max_left_out(len(cohort))
    if left_out > allowed:
        raise UnsafeRequestError(f"{left_out} of the {len(cohort)} committed clients are left out of the graph "
                                 f"seed; more than {allowed} would let the server choose among over 2^20 seeds")
    return derive_seed(ctx.cohort_digest, nonces)


def _bind_session(ctx: ClientContext, request: ShareKeysRequest) -> None:
    """Compute the session id (and the graph) every later message is bound to."""
    cfg = ctx.cfg
    assert ctx.c_keys is not None and ctx.s_keys is not None
    if cfg.clients_draw_graph_seed:
        seed = _seed_from_reveals(ctx, request.nonces)
        ctx.graph = cfg.graph(seed)
        ctx.sid = session_id(cfg.session_id, ctx.config_digest, ctx.cohort_digest, seed)
    elif request.nonces:
        raise ConsistencyError("graph-seed nonces in a session whose graph seed is the server's")
    elif cfg.active:  # the complete graph: every cohort member's keys are here (all are neighbours)
        cohort = {p: (c, s, b"") for p, (c, s, _) in request.keys.items()}
        cohort[ctx.client_id] = (ctx.c_keys.public, ctx.s_keys.public, b"")
        ctx.cohort_digest = cohort_digest(cohort)
        ctx.sid = session_id(cfg.session_id, ctx.config_digest, ctx.cohort_digest)


def handle(ctx: ClientContext, request: ShareKeysRequest) -> ShareKeysReply:
    cfg, me = ctx.cfg, ctx.client_id
    assert ctx.c_keys is not None and ctx.s_keys is not None
    _bind_session(ctx, request)
    assert ctx.graph is not None
    neighbors = ctx.graph.neighbors(me)
    seen_keys = {ctx.c_keys.public, ctx.s_keys.public}
    for peer, (c_pub, s_pub, signature) in request.keys.items():
        if peer not in neighbors:
            raise UnknownClientError(f"the server sent keys of client {peer}, which is not a "
                                     f"neighbour of client {me}")
        if cfg.active:
            commitment = b""
            if cfg.clients_draw_graph_seed:
                entry = ctx.cohort.get(peer)
                if entry is None or entry[:2] != (c_pub, s_pub) or peer not in request.nonces:
                    raise ConsistencyError(f"client {peer}'s keys differ from the cohort's, or it "
                                           "revealed no nonce")
                commitment = entry[2]
            identity = ctx.identity_registry.get(peer)
            if identity is None:
                raise UnknownClientError(f"client {peer} has no registered identity key")
            verify(identity, signature, advertise_transcript(ctx.first_id, peer, c_pub, s_pub, commitment))
        if c_pub in seen_keys or s_pub in seen_keys or c_pub == s_pub:
            raise ConsistencyError(f"client {peer} advertised a public key already in use")
        seen_keys.update((c_pub, s_pub))
    group = sorted(set(request.keys) | {me})
    if len(group) < cfg.threshold:
        raise ThresholdError(f"only {len(group)} of client {me}'s sharing group advertised keys; "
                             f"threshold is {cfg.threshold}", stage=Stage.SHARE_KEYS.name,
                             survivors=len(group), threshold=cfg.threshold)
    ctx.peer_keys = {p: (c, s) for p, (c, s, _) in request.keys.items()}
    ctx.self_seed = random_seed()
    b_shares = shamir.split_to_bytes(ctx.self_seed, cfg.threshold, len(group))
    s_shares = shamir.split_to_bytes(ctx.s_keys.private_bytes(), cfg.threshold, len(group))
    ciphertexts: dict[int, bytes] = {}
    hashes: dict[int, tuple[bytes, bytes]] = {}
    sid, c_keys, packb = ctx.sid, ctx.c_keys, msgpack.packb
    for holder, b_share, s_share in zip(group, b_shares, s_shares):
        commitment = b""
        if cfg.active:  # the envelope starts with the commitments to the two shares inside
            hashes[holder] = share_hash_pair(sid, me, holder, b_share, s_share)
            commitment = hashes[holder][0] + hashes[holder][1]
        if holder == me:
            ctx.own_shares = (b_share, s_share)
            continue
        key = share_key(c_keys, ctx.peer_keys[holder][0], session_id=sid, me=me, peer=holder)
        ctx.share_keys[holder] = key
        plaintext = packb([me, holder, b_share, s_share], use_bin_type=True)
        ciphertexts[holder] = commitment + encrypt(key, plaintext, share_aad(sid, me, holder))
    seed_commit, own, signature = b"", b"", b""
    if cfg.active:
        assert ctx.identity is not None
        seed_commit = seed_commitment(sid, me, ctx.self_seed)
        own = hashes[me][0] + hashes[me][1]
        signature = ctx.identity.sign(commitment_transcript(sid, me, seed_commit, hashes))
    return ShareKeysReply(session_id=cfg.session_id, client_id=me, ciphertexts=ciphertexts, own_hashes=own,
                          seed_commitment=seed_commit, signature=signature)
