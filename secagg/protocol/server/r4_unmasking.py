"""Round 4 on the server: collect shares, rebuild the self-mask seeds of contributors and the
masking keys of dropped clients (batched Shamir), and remove all their masks in one native call.

In the active model every revealed share is checked against the hash its dealer committed to: a
holder that reveals anything else is blamed (``ServerResult.blamed``) and its share is not used,
so one forged share no longer aborts the round. A dealer whose committed shares do not rebuild the
seed or key it committed to is named in a :class:`~secagg.errors.CheatingError`.
"""

from __future__ import annotations

import numpy as np

from ...core import shamir
from ...core.crypto import KeyPair, pairwise_seed
from ...core.masking import unmask
from ...errors import CheatingError, ConsistencyError, InvalidMessageError, ShamirError, ThresholdError
from ..messages import UnmaskingReply
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


def _committed(ctx: ServerContext, owner: int, revealed: list[tuple[int, bytes]], kind: bytes) -> list[bytes]:
    """The revealed shares that match their dealer's commitments (all of them outside the active
    model); a holder whose share does not is blamed."""
    commitments = ctx.share_commitments.get(owner)
    if commitments is None:
        return [raw for _, raw in revealed]
    hashes, slot, kept = commitments[1], 0 if kind == SELF_MASK_SHARE else 1, []
    for holder, raw in revealed:
        if share_hash(ctx.sid, owner, holder, kind, raw) == hashes[holder][slot]:
            kept.append(raw)
        else:
            what = "self-mask" if kind == SELF_MASK_SHARE else "key"
            ctx.blamed[holder] = f"revealed a {what} share of client {owner} that does not match its commitment"
    return kept


def _combine(ctx: ServerContext, groups: dict[int, list[tuple[int, bytes]]], owners: list[int],
             kind: bytes, what: str) -> dict[int, bytes]:
    threshold = ctx.config.threshold
    used: list[list[bytes]] = []
    for owner in owners:
        got = _committed(ctx, owner, groups.get(owner, []), kind)
        if len(got) < threshold:
            raise ThresholdError(f"only {len(got)} clients returned valid {what} shares of client "
                                 f"{owner}; threshold is {threshold}", stage=Stage.UNMASKING.name,
                                 survivors=len(got), threshold=threshold)
        used.append(got[: threshold + SPARE_SHARES])
    try:  # every share used, parsed and validated in one pass
        flat = shamir.shares_from_bytes([raw for raws in used for raw in raws])
    except ShamirError:
        for owner, raws in zip(owners, used):  # only now: whose share is malformed
            try:
                shamir.validate_share_bytes(raws)
            except ShamirError as exc:
                if owner in ctx.share_commitments:
                    _inconsistent(ctx, owner, what, f"malformed: {exc}")
                raise InvalidMessageError(f"a {what} share of client {owner} is malformed: {exc}"
                                          ) from None
        raise
    batch, pos = [], 0
    for raws in used:
        batch.append(flat[pos : pos + len(raws)])
        pos += len(raws)
    try:
        secrets = shamir.combine_many(batch)
    except ShamirError:  # inconsistent shares: find whose
        for owner, shares in zip(owners, batch):
            try:
                shamir.combine(shares)
            except ShamirError as exc:
                _inconsistent(ctx, owner, what, str(exc))
        raise
    return dict(zip(owners, secrets))


def _inconsistent(ctx: ServerContext, owner: int, what: str, detail: str) -> None:
    """Shares that match their commitments but do not form one sharing: the dealer lied (in the
    active model its own signed commitments prove it); outside it, someone did."""
    if owner in ctx.share_commitments:
        raise CheatingError(f"client {owner} dealt {what} shares that match its commitments but do not "
                            f"rebuild one secret ({detail})", culprits=(owner,))
    raise ConsistencyError(f"{what} shares are inconsistent (client {owner}): {detail}")


def finish(ctx: ServerContext) -> np.ndarray:
    """The unmasked sum of the contributors' quantized inputs, mod R."""
    cfg, graph = ctx.config, ctx.g
    contributors = sorted(ctx.u3)
    dropped = sorted(o for o in ctx.u2 - ctx.u3 if graph.neighbors(o) & ctx.u3)
    self_seeds = _combine(ctx, ctx.self_mask_shares, contributors, SELF_MASK_SHARE, "self-mask")
    for owner in contributors:
        if owner in ctx.share_commitments and \
                seed_commitment(ctx.sid, owner, self_seeds[owner]) != ctx.share_commitments[owner][0]:
            raise CheatingError(f"client {owner}'s self-mask shares rebuild a seed other than the one it "
                                "committed to", culprits=(owner,))
    keys = _combine(ctx, ctx.key_shares, dropped, KEY_SHARE, "key")
    peer_seeds, peer_signs = [], []
    for owner in dropped:
        pair = KeyPair.from_private_bytes(keys[owner])
        if pair.public != ctx.keys[owner][1]:
            if owner in ctx.share_commitments:
                raise CheatingError(f"client {owner}'s key shares rebuild a key other than the one it "
                                    "advertised", culprits=(owner,))
            raise ConsistencyError(f"rebuilt masking key of client {owner} does not match the "
                                   "key it advertised (bad shares)")
        for w in sorted(graph.neighbors(owner) & ctx.u3):
            # w masked with owner because owner sent w its shares; w used sign +1 iff w < owner
            peer_seeds.append(pairwise_seed(pair, ctx.keys[w][1], session_id=ctx.sid, me=owner, peer=w))
            peer_signs.append(1 if w < owner else -1)
    assert ctx.masked_sum is not None
    r = cfg.modulus_range
    total = ctx.masked_sum & np.uint64(r - 1)
    total = total.astype(np.uint32 if r <= 2**32 else np.uint64)
    return unmask(total, modulus_range=r, self_seeds=[self_seeds[c] for c in contributors],
                  peer_seeds=peer_seeds, peer_signs=peer_signs)
