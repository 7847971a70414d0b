"""Round 3 (active model): sign the set of clients whose masked input the server accepted."""

from __future__ import annotations

from ...errors import ConsistencyError, ThresholdError, UnknownClientError
from ..messages import ConsistencyCheckReply, ConsistencyCheckRequest
from ..stage import Stage
from ..transcript import consistency_transcript
from .context import ClientContext


def handle(ctx: ClientContext, request: ConsistencyCheckRequest) -> ConsistencyCheckReply:
    cfg, me = ctx.cfg, ctx.client_id
    assert ctx.graph is not None and ctx.identity is not None
    survivors = frozenset(request.survivors)
    unknown = survivors - set(cfg.client_ids)
    if unknown:
        raise UnknownClientError(f"survivor set names clients outside the session: {sorted(unknown)[:5]}")
    if me not in survivors:
        raise ConsistencyError(f"client {me} sent its masked input but is not in the survivor set")
    neighbors = ctx.graph.neighbors(me)
    impossible = (survivors & neighbors) - ctx.masked_with
    if impossible:
        raise ConsistencyError(f"survivor set names neighbours that never shared keys with client "
                               f"{me}: {sorted(impossible)[:5]}")
    if cfg.clients_draw_graph_seed and len(survivors) < len(cfg.client_ids) - cfg.max_dropouts:
        # the graph's security was sized for at most max_dropouts missing clients; a server that
        # declares more dropped could be cutting the honest clients' graph apart
        floor = len(cfg.client_ids) - cfg.max_dropouts
        raise ThresholdError(f"only {len(survivors)} survivors; this session's graph is secure with at "
                             f"least {floor}", stage=Stage.CONSISTENCY_CHECK.name,
                             survivors=len(survivors), threshold=floor)
    in_group = len(survivors & ctx.graph.group(me))
    if in_group < cfg.threshold:
        raise ThresholdError(f"only {in_group} of client {me}'s group survived; threshold is "
                             f"{cfg.threshold}", stage=Stage.CONSISTENCY_CHECK.name,
                             survivors=in_group, threshold=cfg.threshold)
    ctx.signed_survivors = survivors
    signature = ctx.identity.sign(consistency_transcript(ctx.sid, survivors))
    return ConsistencyCheckReply(session_id=cfg.session_id, client_id=me, signature=signature)
