"""The EXCLUSION stage on the server (active model, only after a conviction in round 4): collect
each surviving neighbour's pairwise seed with every convicted client; then take the convicted
clients out of the sum (:func:`.r4_unmasking.finish`)."""

from __future__ import annotations

from ...errors import InvalidMessageError, ThresholdError
from ..messages import ExclusionReply
from ..stage import Stage
from .context import ServerContext


def asked_of(ctx: ServerContext, cid: int) -> set[int]:
    """The convicted clients whose pairwise seed ``cid`` was asked for."""
    return set(ctx.g.neighbors(cid)) & set(ctx.liars) if cid in ctx.u3 and cid not in ctx.liars else set()


def accept(ctx: ServerContext, cid: int, reply: ExclusionReply) -> None:
    if set(reply.seeds) != asked_of(ctx, cid):
        raise InvalidMessageError(f"client {cid} revealed pairwise seeds for other clients than asked")
    for liar, seed in reply.seeds.items():
        ctx.exclusion_seeds.setdefault(liar, {})[cid] = seed


def check_complete(ctx: ServerContext) -> None:
    """Every honest surviving neighbour of every convicted client must have answered: a missing
    seed leaves a mask in the sum that nobody else can remove."""
    for liar in ctx.liars:
        owed = (ctx.g.neighbors(liar) & ctx.u3) - set(ctx.liars)
        got = set(ctx.exclusion_seeds.get(liar, {}))
        if owed - got:
            raise ThresholdError(f"{len(owed - got)} neighbours of convicted client {liar} did not reveal their "
                                 "pairwise seed with it; it cannot be taken out of the sum",
                                 stage=Stage.EXCLUSION.name, survivors=len(got), threshold=len(owed))
