"""Round 2 on the server: add each masked vector into the running sum as it arrives, and note whose
shares each client refused; then ask for the consistency check (active) or the unmasking shares."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from ...errors import InvalidMessageError
from ..messages import ConsistencyCheckRequest, MaskedInputReply, Message
from ..packing import unpack_into
from .context import ServerContext
from .r3_consistency_check import unmasking_requests
from .requests import Requests


def accept(ctx: ServerContext, cid: int, reply: MaskedInputReply) -> None:
    cfg = ctx.config
    if reply.length != cfg.vector_length or reply.bits != cfg.bits:
        raise InvalidMessageError(f"client {cid} sent a vector of {reply.length} values x "
                                  f"{reply.bits} bits; expected {cfg.vector_length} x {cfg.bits}")
    strangers = set(reply.refused) - (ctx.g.neighbors(cid) & ctx.u2)
    if strangers:
        raise InvalidMessageError(f"client {cid} refuses shares of clients that sent it none: {sorted(strangers)[:5]}")
    # unpacked straight into the running sum in one native pass; uint64 wrap-around is exact
    # mod R (R | 2**64); a reply that fails its checks leaves the sum untouched
    if ctx.masked_sum is None:
        ctx.masked_sum = unpack_into(reply.data, reply.length, reply.bits,
                                     np.empty(cfg.vector_length, dtype=np.uint64))
    else:
        unpack_into(reply.data, reply.length, reply.bits, ctx.masked_sum, add=True)
    if cfg.active:  # kept on disk, not in memory, in case this client must be excluded later
        ctx.spool.put(cid, reply.data)
    ctx.contributors.add(cid)
    if reply.refused:
        ctx.refused[cid] = frozenset(reply.refused)


def requests(ctx: ServerContext) -> Mapping[int, Message] | Requests:
    cfg = ctx.config
    if cfg.active:
        survivors = tuple(sorted(ctx.u3))
        return {cid: ConsistencyCheckRequest(session_id=cfg.session_id, client_id=cid,
                                             survivors=survivors) for cid in survivors}
    return unmasking_requests(ctx, ctx.u3, with_signatures=False)
