"""EXCLUSION (active model; only after the server convicted a dealer in round 4): check each proof
that a neighbour dealt shares it cannot stand by, then reveal this client's pairwise seed with it,
so the server can take that neighbour out of the sum.

The pairwise seed only ever masked this client's input against the convicted one; revealing it
tells the server nothing about any honest client, provided the proof is real. So the proof must
convince this client by itself: the dealer's own signature over its commitments, at least t
revealed shares that match them, and shares that do not rebuild what the dealer committed to.
Anything less is an unsafe request and refused.
"""

from __future__ import annotations

from ...core import shamir
from ...core.crypto import pairwise_seed, verify
from ...errors import ShamirError, UnknownClientError, UnsafeRequestError
from ..messages import ExclusionReply, ExclusionRequest, Proof
from ..transcript import KEY_SHARE, SELF_MASK_SHARE, commitment_transcript, is_committed_secret, share_hash
from .context import ClientContext


def _shares_open_nothing_valid(ctx: ClientContext, liar: int, tag: bytes, seed_commit: bytes,
                               shares: list[bytes]) -> bool:
    try:
        secret = shamir.combine(shamir.shares_from_bytes(shares))
    except ShamirError:
        return True  # malformed, mixed or inconsistent: not one sharing of anything
    return not is_committed_secret(ctx.sid, liar, tag, secret, seed_commit, ctx.peer_keys[liar][1])


def _check_proof(ctx: ClientContext, liar: int, proof: Proof) -> None:
    kind, seed_commit, hashes, signature, shares = proof
    if liar not in ctx.masked_with:
        raise UnknownClientError(f"client {liar} is not a neighbour client {ctx.client_id} masked with")
    identity = ctx.identity_registry.get(liar)
    if identity is None:
        raise UnknownClientError(f"client {liar} has no registered identity key")
    verify(identity, signature, commitment_transcript(ctx.sid, liar, seed_commit, hashes))
    if len(shares) < ctx.cfg.threshold:
        raise UnsafeRequestError(f"the proof against client {liar} holds {len(shares)} shares; it needs "
                                 f"the threshold, {ctx.cfg.threshold}")
    tag = SELF_MASK_SHARE if kind == 0 else KEY_SHARE
    for holder, share in shares.items():
        if holder not in hashes or share_hash(ctx.sid, liar, holder, tag, share) != hashes[holder][kind]:
            raise UnsafeRequestError(f"a share in the proof against client {liar} does not match its commitments")
    if not _shares_open_nothing_valid(ctx, liar, tag, seed_commit, list(shares.values())):
        raise UnsafeRequestError(f"the shares committed by client {liar} rebuild what it committed to: no "
                                 "proof of cheating; this client will not reveal its pairwise seed with it")


def handle(ctx: ClientContext, request: ExclusionRequest) -> ExclusionReply:
    cfg, me = ctx.cfg, ctx.client_id
    assert ctx.s_keys is not None
    for liar, proof in request.proofs.items():
        _check_proof(ctx, liar, proof)
    seeds = {liar: pairwise_seed(ctx.s_keys, ctx.peer_keys[liar][1], session_id=ctx.sid, me=me, peer=liar)
             for liar in request.proofs}
    return ExclusionReply(session_id=cfg.session_id, client_id=me, seeds=seeds)
