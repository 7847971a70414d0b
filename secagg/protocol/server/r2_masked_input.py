"""Round 2 on the server: add each masked vector into the running sum as it arrives; then ask
for the consistency check (active) or the unmasking shares."""

from __future__ import annotations

from ...errors import InvalidMessageError
from ..messages import ConsistencyCheckRequest, MaskedInputReply, Message
from ..packing import unpack_lanes
from .context import ServerContext
from .r3_consistency_check import unmasking_requests


def accept(ctx: ServerContext, cid: int, reply: MaskedInputReply) -> None:
    cfg = ctx.config
    if reply.length != cfg.vector_length or reply.bits != cfg.bits:
        raise InvalidMessageError(f"client {cid} sent a vector of {reply.length} values x "
                                  f"{reply.bits} bits; expected {cfg.vector_length} x {cfg.bits}")
    # added straight into the lane-major running sum; uint64 wrap-around is exact mod R (R | 2**64)
    ctx.masked_sum = unpack_lanes(reply.data, reply.length, reply.bits, out=ctx.masked_sum,
                                  add=ctx.masked_sum is not None)
    ctx.contributors.add(cid)


def requests(ctx: ServerContext) -> dict[int, Message]:
    cfg = ctx.config
    if cfg.active:
        survivors = tuple(sorted(ctx.u3))
        return {cid: ConsistencyCheckRequest(session_id=cfg.session_id, client_id=cid,
                                             survivors=survivors) for cid in survivors}
    return unmasking_requests(ctx, ctx.u3, with_signatures=False)
