"""Round 3 on the server (active model): collect signatures over the survivor set; then send
each client the unmasking request with its group's signatures."""

from __future__ import annotations

from collections.abc import Iterable

from ...core.crypto import verify
from ..messages import ConsistencyCheckReply, UnmaskingRequest
from ..transcript import consistency_transcript
from .context import ServerContext


def accept(ctx: ServerContext, cid: int, reply: ConsistencyCheckReply) -> None:
    verify(ctx.identity_registry[cid], reply.signature,
           consistency_transcript(ctx.sid, ctx.u3))
    ctx.signatures[cid] = reply.signature


def unmasking_requests(ctx: ServerContext, recipients: Iterable[int], *,
                       with_signatures: bool) -> dict[int, UnmaskingRequest]:
    cfg = ctx.config
    out = {}
    for cid in sorted(recipients):
        sigs = ({w: ctx.signatures[w] for w in ctx.g.group(cid) if w in ctx.signatures}
                if with_signatures else {})
        out[cid] = UnmaskingRequest(session_id=cfg.session_id, client_id=cid,
                                    survivors=ctx.survivors_for(cid), dropped=ctx.dropped_for(cid),
                                    signatures=sigs)
    return out


def requests(ctx: ServerContext) -> dict[int, UnmaskingRequest]:
    return unmasking_requests(ctx, ctx.signatures, with_signatures=True)
