"""Round 0 on the server: collect advertised keys (and, in active SecAgg+, graph-seed commitments);
then fix the cohort and either ask for the graph-seed nonces (active SecAgg+) or bind the session
and route each client its neighbours' keys."""

from __future__ import annotations

from collections.abc import Mapping

from ...core.crypto import verify
from ...errors import ConsistencyError, InvalidMessageError, UnknownClientError
from ..messages import AdvertiseKeysReply, GraphSeedRequest, Message, SharedIdMap, ShareKeysRequest
from ..transcript import advertise_transcript, cohort_digest, session_id
from .context import ServerContext
from .requests import Requests


def accept(ctx: ServerContext, cid: int, reply: AdvertiseKeysReply) -> None:
    cfg = ctx.config
    if bool(reply.commitment) != cfg.clients_draw_graph_seed:
        raise InvalidMessageError(f"client {cid} {'sent no' if not reply.commitment else 'sent a'} graph-seed "
                                  "commitment; one belongs in active SecAgg+ sessions only")
    if cfg.active:
        identity = ctx.identity_registry.get(cid)
        if identity is None:
            raise UnknownClientError(f"client {cid} has no registered identity key")
        verify(identity, reply.signature,
               advertise_transcript(ctx.first_id, cid, reply.c_public, reply.s_public, reply.commitment))
    in_use = ctx.keys_in_use
    if reply.c_public in in_use or reply.s_public in in_use or reply.c_public == reply.s_public:
        raise ConsistencyError(f"client {cid} advertised a public key already in use")
    in_use.update((reply.c_public, reply.s_public))
    ctx.keys[cid] = (reply.c_public, reply.s_public, reply.signature)
    if reply.commitment:
        ctx.commitments[cid] = reply.commitment


def requests(ctx: ServerContext) -> Mapping[int, Message] | Requests:
    cfg = ctx.config
    cohort = SharedIdMap((cid, (c, s, ctx.commitments.get(cid, b""))) for cid, (c, s, _) in ctx.keys.items())
    if cfg.clients_draw_graph_seed:
        ctx.cohort_digest = cohort_digest(cohort)
        return {cid: GraphSeedRequest(session_id=cfg.session_id, client_id=cid, cohort=cohort)
                for cid in sorted(ctx.u1)}
    if cfg.active:
        ctx.cohort_digest = cohort_digest(cohort)
        ctx.sid = session_id(cfg.session_id, ctx.config_digest, ctx.cohort_digest)
    return share_keys_requests(ctx)


def share_keys_requests(ctx: ServerContext) -> Requests:
    """Each client in U1 gets its neighbours' keys (and, in active SecAgg+, every revealed nonce),
    encoded when read."""
    cfg, u1, graph, keys = ctx.config, ctx.u1, ctx.g, dict(ctx.keys)
    nonces = SharedIdMap(ctx.nonces)  # one map for every request: encoded once

    def build(cid: int) -> ShareKeysRequest:
        return ShareKeysRequest(session_id=cfg.session_id, client_id=cid,
                                keys={p: keys[p] for p in sorted(graph.neighbors(cid) & u1)}, nonces=nonces)

    return Requests(u1, build)
