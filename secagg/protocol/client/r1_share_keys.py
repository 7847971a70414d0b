"""Round 1: check the neighbours' keys, draw the self-mask seed, Shamir-share it and the masking
key with the closed neighbourhood, and send each share pair encrypted to its holder."""

from __future__ import annotations

import msgpack

from ...core import shamir
from ...core.crypto import encrypt, random_seed, share_key, verify
from ...errors import ConsistencyError, ThresholdError, UnknownClientError
from ..messages import ShareKeysReply, ShareKeysRequest
from ..stage import Stage
from ..transcript import advertise_transcript, share_aad
from .context import ClientContext


def handle(ctx: ClientContext, request: ShareKeysRequest) -> ShareKeysReply:
    cfg, me = ctx.cfg, ctx.client_id
    assert ctx.graph is not None and ctx.c_keys is not None and ctx.s_keys is not None
    neighbors = ctx.graph.neighbors(me)
    seen_keys = {ctx.c_keys.public, ctx.s_keys.public}
    for peer, (c_pub, s_pub, signature) in request.keys.items():
        if peer not in neighbors:
            raise UnknownClientError(f"the server sent keys of client {peer}, which is not a "
                                     f"neighbour of client {me}")
        if cfg.active:
            identity = ctx.identity_registry.get(peer)
            if identity is None:
                raise UnknownClientError(f"client {peer} has no registered identity key")
            verify(identity, signature, advertise_transcript(cfg.session_id, peer, c_pub, s_pub))
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
    session_id, c_keys, packb = cfg.session_id, ctx.c_keys, msgpack.packb
    for holder, b_share, s_share in zip(group, b_shares, s_shares):
        if holder == me:
            ctx.own_shares = (b_share, s_share)
            continue
        key = share_key(c_keys, ctx.peer_keys[holder][0], session_id=session_id, me=me, peer=holder)
        ctx.share_keys[holder] = key
        plaintext = packb([me, holder, b_share, s_share], use_bin_type=True)
        ciphertexts[holder] = encrypt(key, plaintext, share_aad(session_id, me, holder))
    return ShareKeysReply(session_id=cfg.session_id, client_id=me, ciphertexts=ciphertexts)
