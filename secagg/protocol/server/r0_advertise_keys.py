"""Round 0 on the server: collect advertised keys; then route each client its neighbours' keys."""

from __future__ import annotations

from ...core.crypto import verify
from ...errors import ConsistencyError, UnknownClientError
from ..messages import AdvertiseKeysReply, ShareKeysRequest
from ..transcript import advertise_transcript
from .context import ServerContext


def accept(ctx: ServerContext, cid: int, reply: AdvertiseKeysReply) -> None:
    cfg = ctx.config
    if cfg.active:
        identity = ctx.identity_registry.get(cid)
        if identity is None:
            raise UnknownClientError(f"client {cid} has no registered identity key")
        verify(identity, reply.signature,
               advertise_transcript(cfg.session_id, cid, reply.c_public, reply.s_public))
    in_use = ctx.keys_in_use
    if reply.c_public in in_use or reply.s_public in in_use or reply.c_public == reply.s_public:
        raise ConsistencyError(f"client {cid} advertised a public key already in use")
    in_use.update((reply.c_public, reply.s_public))
    ctx.keys[cid] = (reply.c_public, reply.s_public, reply.signature)


def requests(ctx: ServerContext) -> dict[int, ShareKeysRequest]:
    cfg, u1 = ctx.config, ctx.u1
    return {cid: ShareKeysRequest(session_id=cfg.session_id, client_id=cid,
                                  keys={p: ctx.keys[p] for p in ctx.graph.neighbors(cid) & u1})
            for cid in sorted(u1)}
