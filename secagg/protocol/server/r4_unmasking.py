"""Round 4 on the server: collect shares, rebuild the self-mask seeds of contributors and the
masking keys of dropped clients (batched Shamir), and remove all their masks in one native call."""

from __future__ import annotations

import numpy as np

from ...core import shamir
from ...core.crypto import KeyPair, pairwise_seed
from ...core.masking import unmask
from ...errors import ConsistencyError, InvalidMessageError, ShamirError, ThresholdError
from ..messages import UnmaskingReply
from ..stage import Stage
from .context import ServerContext

SPARE_SHARES = 1
"""Shares used beyond the threshold: combine_many checks that they all lie on one polynomial,
so a single bad share among those used is detected (more would cost parse time per owner)."""


def accept(ctx: ServerContext, cid: int, reply: UnmaskingReply) -> None:
    if set(reply.self_mask_shares) != set(ctx.survivors_for(cid)) or \
            set(reply.key_shares) != set(ctx.dropped_for(cid)):
        raise InvalidMessageError(f"client {cid} revealed shares for other clients than requested")
    for owner, raw in reply.self_mask_shares.items():
        ctx.self_mask_shares.setdefault(owner, []).append(raw)
    for owner, raw in reply.key_shares.items():
        ctx.key_shares.setdefault(owner, []).append(raw)
    ctx.unmasked_by.add(cid)


def _combine(groups: dict[int, list[bytes]], owners: list[int], threshold: int,
             what: str) -> dict[int, bytes]:
    used: list[list[bytes]] = []
    for owner in owners:
        got = groups.get(owner, [])
        if len(got) < threshold:
            raise ThresholdError(f"only {len(got)} clients returned {what} shares of client "
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
                raise InvalidMessageError(f"a {what} share of client {owner} is malformed: {exc}"
                                          ) from None
        raise
    batch, pos = [], 0
    for raws in used:
        batch.append(flat[pos : pos + len(raws)])
        pos += len(raws)
    try:
        secrets = shamir.combine_many(batch)
    except ShamirError as exc:  # inconsistent shares: some client lied
        raise ConsistencyError(f"{what} shares are inconsistent: {exc}") from None
    return dict(zip(owners, secrets))


def finish(ctx: ServerContext) -> np.ndarray:
    """The unmasked sum of the contributors' quantized inputs, mod R."""
    cfg, graph = ctx.config, ctx.graph
    contributors = sorted(ctx.u3)
    dropped = sorted(o for o in ctx.u2 - ctx.u3 if graph.neighbors(o) & ctx.u3)
    self_seeds = _combine(ctx.self_mask_shares, contributors, cfg.threshold, "self-mask")
    keys = _combine(ctx.key_shares, dropped, cfg.threshold, "key")
    peer_seeds, peer_signs = [], []
    for owner in dropped:
        pair = KeyPair.from_private_bytes(keys[owner])
        if pair.public != ctx.keys[owner][1]:
            raise ConsistencyError(f"rebuilt masking key of client {owner} does not match the "
                                   "key it advertised (bad shares)")
        for w in sorted(graph.neighbors(owner) & ctx.u3):
            # w masked with owner because owner sent w its shares; w used sign +1 iff w < owner
            peer_seeds.append(pairwise_seed(pair, ctx.keys[w][1], session_id=cfg.session_id,
                                            me=owner, peer=w))
            peer_signs.append(1 if w < owner else -1)
    assert ctx.masked_sum is not None
    r = cfg.modulus_range
    total = ctx.masked_sum & np.uint64(r - 1)
    total = total.astype(np.uint32 if r <= 2**32 else np.uint64)
    return unmask(total, modulus_range=r, self_seeds=[self_seeds[c] for c in contributors],
                  peer_seeds=peer_seeds, peer_signs=peer_signs)
