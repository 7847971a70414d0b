"""Active SecAgg+ on the server: collect the revealed graph-seed nonces; then derive the seed and
the graph, bind the session, and route each revealer its neighbours' keys with every nonce."""

from __future__ import annotations

from ...errors import ConsistencyError, ThresholdError
from ..graphseed import derive_seed, max_left_out, nonce_commitment
from ..messages import GraphSeedReply
from ..stage import Stage
from ..transcript import session_id
from .context import ServerContext
from .r0_advertise_keys import share_keys_requests
from .requests import Requests


def accept(ctx: ServerContext, cid: int, reply: GraphSeedReply) -> None:
    if nonce_commitment(ctx.first_id, cid, reply.nonce) != ctx.commitments[cid]:
        raise ConsistencyError(f"client {cid}'s revealed nonce does not match its commitment")
    ctx.nonces[cid] = reply.nonce


def requests(ctx: ServerContext) -> Requests:
    cfg, cohort = ctx.config, len(ctx.commitments)
    left_out, allowed = cohort - len(ctx.nonces), max_left_out(cohort)
    if left_out > allowed:  # every client would refuse the seed: stop here, say why
        raise ThresholdError(f"{left_out} of the {cohort} committed clients did not reveal their graph-seed "
                             f"nonce; clients accept at most {allowed} (more would let a server choose among "
                             "over 2^20 seeds)", stage=Stage.GRAPH_SEED.name, survivors=len(ctx.nonces),
                             threshold=cohort - allowed)
    seed = derive_seed(ctx.cohort_digest, ctx.nonces)
    ctx.graph = cfg.graph(seed)
    ctx.sid = session_id(cfg.session_id, ctx.config_digest, ctx.cohort_digest, seed)
    ctx.keys = {cid: keys for cid, keys in ctx.keys.items() if cid in ctx.nonces}  # the revealers go on
    return share_keys_requests(ctx)
