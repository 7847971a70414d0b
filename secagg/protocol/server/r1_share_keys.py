"""Round 1 on the server: collect encrypted shares (and, in the active model, the dealer's signed
commitments to them); then route each client the shares for it with their commitments."""

from __future__ import annotations

from ...errors import InvalidMessageError
from ..messages import MaskedInputRequest, ShareKeysReply
from .context import ServerContext


def accept(ctx: ServerContext, cid: int, reply: ShareKeysReply) -> None:
    cfg = ctx.config
    expected = ctx.g.neighbors(cid) & ctx.u1
    if set(reply.ciphertexts) != expected:
        # a client that skipped (or invented) a holder would break the pairwise-mask symmetry
        raise InvalidMessageError(f"client {cid} must send shares to exactly its {len(expected)} "
                                  f"neighbours that advertised keys, got {len(reply.ciphertexts)}")
    if cfg.active:
        if set(reply.share_hashes) != expected | {cid} or not reply.seed_commitment or not reply.signature:
            raise InvalidMessageError(f"client {cid} must commit to its self-mask seed and to the shares of "
                                      "every holder, itself included, with a signature")
        ctx.share_commitments[cid] = (reply.seed_commitment, dict(reply.share_hashes), reply.signature)
    elif reply.share_hashes or reply.seed_commitment or reply.signature:
        raise InvalidMessageError(f"client {cid} sent share commitments in an honest-but-curious session")
    ctx.ciphertexts[cid] = dict(reply.ciphertexts)


def requests(ctx: ServerContext) -> dict[int, MaskedInputRequest]:
    cfg, u2, commitments = ctx.config, ctx.u2, ctx.share_commitments
    out = {}
    for cid in sorted(u2):
        senders = ctx.g.neighbors(cid) & u2
        out[cid] = MaskedInputRequest(
            session_id=cfg.session_id, client_id=cid, ciphertexts={s: ctx.ciphertexts[s][cid] for s in senders},
            commitments={s: (commitments[s][0], *commitments[s][1][cid]) for s in senders if s in commitments})
    return out
