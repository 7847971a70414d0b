"""Round 3 on the server (active model): collect signatures over the survivor set; then send
each client the unmasking request with its group's signatures."""

from __future__ import annotations

from collections.abc import Iterable

from ...core.crypto import verify
from ..messages import ConsistencyCheckReply, UnmaskingRequest
from ..transcript import consistency_transcript
from .context import ServerContext
from .requests import Requests


def accept(ctx: ServerContext, cid: int, reply: ConsistencyCheckReply) -> None:
    verify(ctx.identity_registry[cid], reply.signature,
           consistency_transcript(ctx.sid, ctx.u3))
    ctx.signatures[cid] = reply.signature


def unmasking_requests(ctx: ServerContext, recipients: Iterable[int], *,
                       with_signatures: bool) -> Requests:
    """Each recipient's unmasking request, encoded when read (what it names is fixed by now: the
    contributors, the refusals and the signatures no longer change)."""
    cfg, signatures = ctx.config, dict(ctx.signatures)

    def build(cid: int) -> UnmaskingRequest:
        sigs = ({w: signatures[w] for w in sorted(ctx.g.group(cid)) if w in signatures}
                if with_signatures else {})
        return UnmaskingRequest(session_id=cfg.session_id, client_id=cid, survivors=ctx.survivors_for(cid),
                                dropped=ctx.dropped_for(cid), signatures=sigs)

    return Requests(recipients, build)


def requests(ctx: ServerContext) -> Requests:
    return unmasking_requests(ctx, ctx.signatures, with_signatures=True)
