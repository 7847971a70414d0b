"""Round 4 on the server: collect shares, rebuild the self-mask seeds of contributors and the
masking keys of dropped clients (batched Shamir), and remove all their masks in one native call.

In the active model every revealed share is checked against the hash its dealer committed to: a
holder that reveals anything else is blamed (``ServerResult.blamed``) and its share is not used,
so one forged share no longer aborts the round. A dealer whose committed shares do not rebuild the
seed or key it committed to (they are inconsistent, or open something else) is proven to have
cheated by its own signature: the round goes on to the EXCLUSION stage (:mod:`.exclusion`), where
its surviving neighbours reveal their pairwise seeds with it and the server takes it out of the sum.
Outside the active model nothing is committed, and such shares abort the round.
"""

from __future__ import annotations

import numpy as np

from ...core import shamir
from ...core.crypto import KeyPair, pairwise_seed
from ...core.masking import unmask
from ...errors import ConsistencyError, InvalidMessageError, ShamirError, ThresholdError
from ..messages import ExclusionRequest, UnmaskingReply
from ..packing import unpack_into
from ..stage import Stage
from ..transcript import KEY_SHARE, SELF_MASK_SHARE, seed_commitment, share_hash
from .context import ServerContext

SPARE_SHARES = 1
"""Shares used beyond the threshold: combine_many checks that they all lie on one polynomial,
so a single bad share among those used is detected (more would cost parse time per owner)."""


def accept(ctx: ServerContext, cid: int, reply: UnmaskingReply) -> None:
    if set(reply.self_mask_shares) != set(ctx.survivors_for(cid)) or \
            set(reply.key_shares) != set(ctx.dropped_for(cid)):
        raise InvalidMessageError(f"client {cid} revealed shares for other clients than requested")
    for owner, raw in reply.self_mask_shares.items():
        ctx.self_mask_shares.setdefault(owner, []).append((cid, raw))
    for owner, raw in reply.key_shares.items():
        ctx.key_shares.setdefault(owner, []).append((cid, raw))
    ctx.unmasked_by.add(cid)


def _committed(ctx: ServerContext, owner: int, revealed: list[tuple[int, bytes]],
               kind: bytes) -> list[tuple[int, bytes]]:
    """The revealed (holder, share) pairs that match their dealer's commitments (all of them
    outside the active model); a holder whose share does not is blamed."""
    commitments = ctx.share_commitments.get(owner)
    if commitments is None:
        return revealed
    hashes, slot, kept = commitments[1], 0 if kind == SELF_MASK_SHARE else 1, []
    for holder, raw in revealed:
        if share_hash(ctx.sid, owner, holder, kind, raw) == hashes[holder][slot]:
            kept.append((holder, raw))
        else:
            what = "self-mask" if kind == SELF_MASK_SHARE else "key"
            ctx.blamed[holder] = f"revealed a {what} share of client {owner} that does not match its commitment"
    return kept


def _combine(ctx: ServerContext, groups: dict[int, list[tuple[int, bytes]]], owners: list[int],
             kind: bytes, what: str) -> dict[int, bytes | None]:
    """owner -> its rebuilt secret, or None for a dealer proven (active) to have dealt shares that
    do not form one sharing (it goes to ``ctx.liars``)."""
    threshold = ctx.config.threshold
    used: list[list[tuple[int, bytes]]] = []
    for owner in owners:
        got = _committed(ctx, owner, groups.get(owner, []), kind)
        if len(got) < threshold:
            raise ThresholdError(f"only {len(got)} clients returned valid {what} shares of client "
                                 f"{owner}; threshold is {threshold}", stage=Stage.UNMASKING.name,
                                 survivors=len(got), threshold=threshold)
        used.append(got[: threshold + SPARE_SHARES])
    out: dict[int, bytes | None] = {}
    try:  # every share used, parsed and validated in one pass
        flat = shamir.shares_from_bytes([raw for pairs in used for _, raw in pairs])
    except ShamirError:
        for owner, pairs in zip(owners, used):  # only now: whose share is malformed
            try:
                shamir.validate_share_bytes([raw for _, raw in pairs])
            except ShamirError as exc:
                if owner not in ctx.share_commitments:
                    raise InvalidMessageError(f"a {what} share of client {owner} is malformed: {exc}") from None
                _convict(ctx, owner, kind, pairs)
                out[owner] = None
        return {**out, **_combine(ctx, groups, [o for o in owners if o not in out], kind, what)}
    batch, pos = [], 0
    for pairs in used:
        batch.append(flat[pos : pos + len(pairs)])
        pos += len(pairs)
    try:
        return dict(zip(owners, shamir.combine_many(batch)))
    except ShamirError:  # inconsistent shares: find whose
        for owner, shares, pairs in zip(owners, batch, used):
            try:
                out[owner] = shamir.combine(shares)
            except ShamirError as exc:
                if owner not in ctx.share_commitments:
                    raise ConsistencyError(f"{what} shares are inconsistent (client {owner}): {exc}") from None
                _convict(ctx, owner, kind, pairs)
                out[owner] = None
        return out


def _convict(ctx: ServerContext, owner: int, kind: bytes, pairs: list[tuple[int, bytes]]) -> None:
    """Record the proof that ``owner`` dealt shares it committed to but that rebuild nothing valid."""
    seed_commit, hashes, signature = ctx.share_commitments[owner]
    ctx.liars[owner] = (0 if kind == SELF_MASK_SHARE else 1, seed_commit, hashes, signature, dict(pairs))


def rebuild(ctx: ServerContext) -> None:
    """Rebuild every self-mask seed and dropped client's key; a dealer whose committed shares open
    nothing valid is convicted (``ctx.liars``) instead of rebuilt."""
    graph = ctx.g
    contributors = sorted(ctx.u3)
    dropped = sorted(o for o in ctx.u2 - ctx.u3 if graph.neighbors(o) & ctx.u3)
    seeds = _combine(ctx, ctx.self_mask_shares, contributors, SELF_MASK_SHARE, "self-mask")
    for owner, seed in seeds.items():
        if seed is not None and owner in ctx.share_commitments and \
                seed_commitment(ctx.sid, owner, seed) != ctx.share_commitments[owner][0]:
            _convict(ctx, owner, SELF_MASK_SHARE, _committed(ctx, owner, ctx.self_mask_shares[owner],
                                                             SELF_MASK_SHARE)[: ctx.config.threshold])
            seeds[owner] = None
    ctx.self_seeds = {o: s for o, s in seeds.items() if s is not None}
    keys = _combine(ctx, ctx.key_shares, dropped, KEY_SHARE, "key")
    for owner, key in keys.items():
        if key is None:
            continue
        if KeyPair.from_private_bytes(key).public != ctx.keys[owner][1]:
            if owner not in ctx.share_commitments:
                raise ConsistencyError(f"rebuilt masking key of client {owner} does not match the "
                                       "key it advertised (bad shares)")
            _convict(ctx, owner, KEY_SHARE, _committed(ctx, owner, ctx.key_shares[owner],
                                                       KEY_SHARE)[: ctx.config.threshold])
            continue
        ctx.dropped_keys[owner] = key


def requests(ctx: ServerContext) -> dict[int, ExclusionRequest]:
    """After :func:`rebuild`: ask every surviving neighbour of a convicted client for its pairwise
    seed with it (none when nobody was convicted)."""
    cfg, graph, asked = ctx.config, ctx.g, {}
    for liar, proof in ctx.liars.items():
        for w in (graph.neighbors(liar) & ctx.u3) - set(ctx.liars):
            asked.setdefault(w, {})[liar] = proof
    return {w: ExclusionRequest(session_id=cfg.session_id, client_id=w, proofs=proofs)
            for w, proofs in sorted(asked.items())}


def finish(ctx: ServerContext) -> np.ndarray:
    """The unmasked sum of the honest contributors' quantized inputs, mod R (convicted clients
    taken out: their masked inputs subtracted, their pairwise masks removed with the seeds their
    neighbours revealed)."""
    cfg, graph = ctx.config, ctx.g
    liars = set(ctx.liars)
    contributors = sorted(ctx.u3 - liars)
    assert ctx.masked_sum is not None
    total = ctx.masked_sum.copy() if liars else ctx.masked_sum
    peer_seeds, peer_signs = [], []
    for liar in sorted(liars):
        if liar in ctx.u3:  # its masked input is in the running sum: take it out
            total -= unpack_into(ctx.masked_inputs[liar], cfg.vector_length, cfg.bits,
                                 np.empty(cfg.vector_length, dtype=np.uint64))
        for w, seed in sorted(ctx.exclusion_seeds.get(liar, {}).items()):
            peer_seeds.append(seed)  # w masked with the liar; w used sign +1 iff w < liar
            peer_signs.append(1 if w < liar else -1)
    for owner, key in sorted(ctx.dropped_keys.items()):
        pair = KeyPair.from_private_bytes(key)
        for w in sorted((graph.neighbors(owner) & ctx.u3) - liars):
            # w masked with owner because owner sent w its shares; w used sign +1 iff w < owner
            peer_seeds.append(pairwise_seed(pair, ctx.keys[w][1], session_id=ctx.sid, me=owner, peer=w))
            peer_signs.append(1 if w < owner else -1)
    r = cfg.modulus_range
    total = total & np.uint64(r - 1)
    total = total.astype(np.uint32 if r <= 2**32 else np.uint64)
    return unmask(total, modulus_range=r, self_seeds=[ctx.self_seeds[c] for c in contributors],
                  peer_seeds=peer_seeds, peer_signs=peer_signs)
