"""Round 1 on the server: collect encrypted shares; then route each client the ones for it."""

from __future__ import annotations

from ...errors import InvalidMessageError
from ..messages import MaskedInputRequest, ShareKeysReply
from .context import ServerContext


def accept(ctx: ServerContext, cid: int, reply: ShareKeysReply) -> None:
    expected = ctx.graph.neighbors(cid) & ctx.u1
    if set(reply.ciphertexts) != expected:
        # a client that skipped (or invented) a holder would break the pairwise-mask symmetry
        raise InvalidMessageError(f"client {cid} must send shares to exactly its {len(expected)} "
                                  f"neighbours that advertised keys, got {len(reply.ciphertexts)}")
    ctx.ciphertexts[cid] = dict(reply.ciphertexts)


def requests(ctx: ServerContext) -> dict[int, MaskedInputRequest]:
    cfg, u2 = ctx.config, ctx.u2
    return {cid: MaskedInputRequest(session_id=cfg.session_id, client_id=cid,
                                    ciphertexts={s: ctx.ciphertexts[s][cid]
                                                 for s in ctx.graph.neighbors(cid) & u2})
            for cid in sorted(u2)}
