"""Active SecAgg+, between rounds 0 and 1: check the cohort the server fixed, reveal the graph-seed
nonce (see :mod:`secagg.protocol.graphseed`)."""

from __future__ import annotations

from ...errors import ConsistencyError, ThresholdError, UnknownClientError
from ..messages import GraphSeedReply, GraphSeedRequest
from ..stage import Stage
from ..transcript import cohort_digest
from .context import ClientContext


def handle(ctx: ClientContext, request: GraphSeedRequest) -> GraphSeedReply:
    cfg, me = ctx.cfg, ctx.client_id
    assert ctx.c_keys is not None and ctx.s_keys is not None and ctx.graph_nonce is not None
    cohort = request.cohort
    if cohort.get(me) != (ctx.c_keys.public, ctx.s_keys.public, ctx.commitment):
        raise ConsistencyError(f"the cohort does not hold client {me}'s own keys and commitment")
    strangers = set(cohort) - set(cfg.client_ids)
    if strangers:
        raise UnknownClientError(f"the cohort names clients outside the session: {sorted(strangers)[:5]}")
    if len(cohort) < cfg.threshold:
        raise ThresholdError(f"the cohort has {len(cohort)} clients; the threshold is {cfg.threshold}",
                             stage=Stage.GRAPH_SEED.name, survivors=len(cohort), threshold=cfg.threshold)
    ctx.cohort = dict(cohort)
    ctx.cohort_digest = cohort_digest(cohort)
    return GraphSeedReply(session_id=cfg.session_id, client_id=me, nonce=ctx.graph_nonce)
