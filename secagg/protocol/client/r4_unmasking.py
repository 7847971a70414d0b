"""Round 4: reveal self-mask shares of survivors and key shares of dropped clients, never both
for one client, after checking the request (and, in the active model, the consistency signatures)."""

from __future__ import annotations

from ...core.crypto import verify
from ...errors import (
    ConsistencyError,
    ThresholdError,
    UnknownClientError,
    UnsafeRequestError,
)
from ..messages import UnmaskingReply, UnmaskingRequest
from ..stage import Stage
from ..transcript import consistency_transcript
from .context import ClientContext

SELF_MASK, KEY = "self-mask", "key"


def _check_signatures(ctx: ClientContext, request: UnmaskingRequest) -> None:
    cfg, me = ctx.cfg, ctx.client_id
    assert ctx.graph is not None and ctx.signed_survivors is not None
    group = ctx.graph.group(me)
    transcript = consistency_transcript(ctx.sid, ctx.signed_survivors)
    for signer, signature in request.signatures.items():
        if signer not in group or signer not in ctx.signed_survivors:
            raise UnknownClientError(f"consistency signature from client {signer}, which is not a "
                                     f"surviving member of client {me}'s group")
        identity = ctx.identity_registry.get(signer)
        if identity is None:
            raise UnknownClientError(f"client {signer} has no registered identity key")
        verify(identity, signature, transcript)  # a different survivor set fails here
    if len(request.signatures) < cfg.threshold:
        raise ThresholdError(f"only {len(request.signatures)} consistency signatures for client "
                             f"{me}; threshold is {cfg.threshold}", stage=Stage.UNMASKING.name,
                             survivors=len(request.signatures), threshold=cfg.threshold)


def handle(ctx: ClientContext, request: UnmaskingRequest) -> UnmaskingReply:
    cfg, me = ctx.cfg, ctx.client_id
    survivors, dropped = frozenset(request.survivors), frozenset(request.dropped)
    both = survivors & dropped
    if both:
        raise UnsafeRequestError(f"the server asks for both shares of clients {sorted(both)[:5]}; "
                                 "that would reveal their inputs")
    if me in dropped:
        raise UnsafeRequestError(f"the server names client {me} itself as dropped")
    if me not in survivors:
        raise ConsistencyError(f"client {me} sent its masked input but is not named a survivor")
    unknown = (survivors | dropped) - set(ctx.held)
    if unknown:
        raise UnknownClientError(f"client {me} holds no shares of clients {sorted(unknown)[:5]}")
    if cfg.active:
        assert ctx.signed_survivors is not None and ctx.graph is not None
        if dropped & ctx.signed_survivors:
            raise UnsafeRequestError(f"the server names as dropped clients {sorted(dropped & ctx.signed_survivors)[:5]} "
                                     "that were in the survivor set this client signed")
        if survivors != ctx.signed_survivors & set(ctx.held):
            raise ConsistencyError("the survivor set differs from the one this client signed")
        _check_signatures(ctx, request)
    for owner in survivors:
        if ctx.revealed.get(owner, SELF_MASK) != SELF_MASK:
            raise UnsafeRequestError(f"client {owner}'s key share was already revealed")
    for owner in dropped:
        if ctx.revealed.get(owner, KEY) != KEY:
            raise UnsafeRequestError(f"client {owner}'s self-mask share was already revealed")
    ctx.revealed.update({o: SELF_MASK for o in survivors})
    ctx.revealed.update({o: KEY for o in dropped})
    return UnmaskingReply(session_id=cfg.session_id, client_id=me,
                          self_mask_shares={o: ctx.held[o][0] for o in survivors},
                          key_shares={o: ctx.held[o][1] for o in dropped})
