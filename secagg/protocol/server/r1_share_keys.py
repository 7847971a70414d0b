"""Round 1 on the server: collect encrypted shares (and, in the active model, the dealer's signed
commitments to them); then route each client the shares for it with their commitments."""

from __future__ import annotations

from ...errors import InvalidMessageError
from ..messages import COMMITMENT_BYTES, HASH_BYTES, MaskedInputRequest, ShareKeysReply
from .context import ServerContext
from .envelopes import EnvelopeStore
from .requests import Requests


def accept(ctx: ServerContext, cid: int, reply: ShareKeysReply) -> None:
    cfg = ctx.config
    expected = ctx.g.neighbors(cid) & ctx.u1
    if set(reply.ciphertexts) != expected:
        # a client that skipped (or invented) a holder would break the pairwise-mask symmetry
        raise InvalidMessageError(f"client {cid} must send shares to exactly its {len(expected)} "
                                  f"neighbours that advertised keys, got {len(reply.ciphertexts)}")
    if cfg.active:
        if not (reply.own_hashes and reply.seed_commitment and reply.signature) or \
                min(map(len, reply.ciphertexts.values()), default=COMMITMENT_BYTES) < COMMITMENT_BYTES:
            raise InvalidMessageError(f"client {cid} must commit to its self-mask seed and to the shares of "
                                      "every holder, itself included, with a signature")
        ctx.share_commitments[cid] = (reply.seed_commitment, reply.own_hashes, reply.signature)
    elif reply.own_hashes or reply.seed_commitment or reply.signature:
        raise InvalidMessageError(f"client {cid} sent share commitments in an honest-but-curious session")
    ctx.envelopes.add(cid, reply.ciphertexts)
    ctx.sharers.add(cid)


def requests(ctx: ServerContext) -> Requests:
    """Each client in U2 gets the envelopes its neighbours in U2 addressed to it, encoded when
    read. The context keeps only what later rounds need: nothing (honest-but-curious) or the
    commitment heads (active); the full envelopes live as long as the returned requests."""
    cfg, u2, graph, envelopes = ctx.config, ctx.u2, ctx.g, ctx.envelopes
    ctx.envelopes = envelopes.heads(COMMITMENT_BYTES) if cfg.active else EnvelopeStore()

    def build(cid: int) -> MaskedInputRequest:
        return MaskedInputRequest(session_id=cfg.session_id, client_id=cid,
                                  ciphertexts={s: envelopes.get(s, cid) for s in sorted(graph.neighbors(cid) & u2)})

    return Requests(u2, build)


def share_hashes(ctx: ServerContext, owner: int) -> dict[int, tuple[bytes, bytes]]:
    """``owner``'s commitments to the shares it dealt: holder -> (self-mask share hash, key share
    hash), read off the envelopes it sent (and the hashes of the shares it kept)."""
    own = ctx.share_commitments[owner][1]
    out = {holder: (env[:HASH_BYTES], env[HASH_BYTES:COMMITMENT_BYTES]) for holder, env in ctx.envelopes.items(owner)}
    out[owner] = (own[:HASH_BYTES], own[HASH_BYTES:])
    return out
