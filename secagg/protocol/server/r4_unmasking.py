"""Round 4 on the server: collect shares, rebuild the self-mask seeds of contributors and the
masking keys of dropped clients (batched Shamir), and remove all their masks in one native call.

In the active model every revealed share is checked against the hash its dealer committed to: a
holder that reveals anything else is blamed (``ServerResult.blamed``) and its share is not used,
so one forged share no longer aborts the round. A dealer whose committed shares do not rebuild the
seed or key it committed to (they are inconsistent, or open something else) is proven to have
cheated by its own signature: the round goes on to the EXCLUSION stage (:mod:`.exclusion`), where
its surviving neighbours reveal their pairwise seeds with it and the server takes it out of the sum.
Outside the active model nothing is committed, and such shares abort the round.
"""

from __future__ import annotations

import numpy as np

from ...core import shamir
from ...core.crypto import KeyPair, pairwise_seed
from ...core.masking import unmask
from ...errors import ConsistencyError, InvalidMessageError, ThresholdError
from ..messages import ExclusionRequest, UnmaskingReply
from ..packing import unpack_into
from ..stage import Stage
from ..transcript import KEY_SHARE, SELF_MASK_SHARE, is_committed_secret, share_hash
from .context import ServerContext
from .r1_share_keys import share_hashes

SPARE_SHARES = 1
"""Shares used beyond the threshold: combine_many checks that they all lie on one polynomial,
so a single bad share among those used is detected (more would cost parse time per owner)."""


def accept(ctx: ServerContext, cid: int, reply: UnmaskingReply) -> None:
    if set(reply.self_mask_shares) != set(ctx.survivors_for(cid)) or \
            set(reply.key_shares) != set(ctx.dropped_for(cid)):
        raise InvalidMessageError(f"client {cid} revealed shares for other clients than requested")
    # only the first t + SPARE_SHARES of an owner's shares are ever combined, unless its dealer
    # committed to them (active): then a bad one is replaced by the next (see _rebuild)
    used = ctx.config.threshold + SPARE_SHARES
    for kept, revealed in ((ctx.self_mask_shares, reply.self_mask_shares), (ctx.key_shares, reply.key_shares)):
        for owner, raw in revealed.items():
            shares = kept.setdefault(owner, [])
            if len(shares) < used or owner in ctx.share_commitments:
                shares.append((cid, raw))
    ctx.unmasked_by.add(cid)


def _committed(ctx: ServerContext, owner: int, revealed: list[tuple[int, bytes]], kind: bytes,
               need: int) -> list[tuple[int, bytes]]:
    """The first ``need`` revealed (holder, share) pairs that match their dealer's commitments (all
    revealed ones outside the active model); a holder whose share is examined and does not match
    is blamed. Shares beyond the first ``need`` good ones are not used, so not examined."""
    if owner not in ctx.share_commitments:
        return revealed
    hashes, slot, kept, sid = share_hashes(ctx, owner), 0 if kind == SELF_MASK_SHARE else 1, [], ctx.sid
    for holder, raw in revealed:
        if share_hash(sid, owner, holder, kind, raw) == hashes[holder][slot]:
            kept.append((holder, raw))
            if len(kept) == need:
                break
        else:
            what = "self-mask" if kind == SELF_MASK_SHARE else "key"
            ctx.blamed[holder] = f"revealed a {what} share of client {owner} that does not match its commitment"
    return kept


def _combine_batch(ctx: ServerContext, used: dict[int, list[bytes]],
                   what: str) -> tuple[dict[int, bytes], dict[int, str]]:
    """Combine each owner's encoded shares, all owners in one native batch: (owner -> secret, owner
    -> why its shares did not combine). Outside the active model a failure is an error at once."""
    owners = list(used)
    secrets, failed = shamir.combine_encoded_many([used[o] for o in owners])
    bad: dict[int, str] = {}
    for pos, (code, why) in failed.items():
        owner = owners[pos]
        if owner not in ctx.share_commitments:
            if code in shamir.MALFORMED_STATUSES:
                raise InvalidMessageError(f"a {what} share of client {owner} is malformed: {why}")
            raise ConsistencyError(f"{what} shares are inconsistent (client {owner}): {why}")
        bad[owner] = why
    return {o: s for o, s in zip(owners, secrets) if s is not None}, bad


def _is_committed(ctx: ServerContext, owner: int, kind: bytes, secret: bytes) -> bool:
    """Whether ``secret``, rebuilt from ``owner``'s shares, is what it stands by (outside the active
    model no self-mask seed is committed, so only a rebuilt key can be checked)."""
    commitments = ctx.share_commitments.get(owner)
    if commitments is None and kind == SELF_MASK_SHARE:
        return True
    return is_committed_secret(ctx.sid, owner, kind, secret, commitments[0] if commitments else b"", ctx.keys[owner][1])


def _rebuild(ctx: ServerContext, groups: dict[int, list[tuple[int, bytes]]], owners: list[int],
             kind: bytes) -> dict[int, bytes]:
    """owner -> its rebuilt secret. The fast path combines the first t + 1 revealed shares of every
    owner in one batch and checks the secret (:func:`_is_committed`: the seed commitment, or the
    advertised key): one hash per owner, not one per share. Only an owner whose shares fail goes the slow way:
    every revealed share is checked against the dealer's commitments (a holder that revealed a
    forged one is blamed), and if the matching ones still rebuild nothing valid, the dealer is
    convicted (``ctx.liars``; it is absent from the result)."""
    t, what = ctx.config.threshold, "self-mask" if kind == SELF_MASK_SHARE else "key"
    invalid = "self-mask seed commitment" if kind == SELF_MASK_SHARE else "masking key (the one it advertised)"
    for owner in owners:
        got = len(groups.get(owner, []))
        if got < t:
            raise ThresholdError(f"only {got} clients returned {what} shares of client {owner}; threshold is {t}",
                                 stage=Stage.UNMASKING.name, survivors=got, threshold=t)
    secrets, bad = _combine_batch(ctx, {o: [raw for _, raw in groups[o][: t + SPARE_SHARES]] for o in owners}, what)
    for owner in [o for o, secret in secrets.items() if not _is_committed(ctx, o, kind, secret)]:
        if owner not in ctx.share_commitments:
            raise ConsistencyError(f"rebuilt {invalid} of client {owner} does not match (bad shares)")
        bad[owner] = f"the rebuilt secret does not match its {invalid}"
        del secrets[owner]
    for owner in bad:  # the slow way: only the shares that match the dealer's commitments
        good = _committed(ctx, owner, groups[owner], kind, t + SPARE_SHARES)
        if len(good) < t:
            raise ThresholdError(f"only {len(good)} clients returned valid {what} shares of client {owner}; "
                                 f"threshold is {t}", stage=Stage.UNMASKING.name, survivors=len(good), threshold=t)
        retry, failed = _combine_batch(ctx, {owner: [raw for _, raw in good]}, what)
        if failed or not _is_committed(ctx, owner, kind, retry[owner]):
            _convict(ctx, owner, kind, good)  # t + 1 shares: their inconsistency shows too
        else:
            secrets[owner] = retry[owner]
    return secrets


def _convict(ctx: ServerContext, owner: int, kind: bytes, pairs: list[tuple[int, bytes]]) -> None:
    """Record the proof that ``owner`` dealt shares it committed to but that rebuild nothing valid."""
    seed_commit, _, signature = ctx.share_commitments[owner]
    ctx.liars[owner] = (0 if kind == SELF_MASK_SHARE else 1, seed_commit, share_hashes(ctx, owner), signature,
                        dict(pairs))


def rebuild(ctx: ServerContext) -> None:
    """Rebuild every self-mask seed and dropped client's key; a dealer whose committed shares open
    nothing valid is convicted (``ctx.liars``) instead of rebuilt."""
    graph = ctx.g
    contributors = sorted(ctx.u3)
    dropped = sorted(o for o in ctx.u2 - ctx.u3 if graph.neighbors(o) & ctx.u3)
    ctx.self_seeds = _rebuild(ctx, ctx.self_mask_shares, contributors, SELF_MASK_SHARE)
    ctx.dropped_keys = _rebuild(ctx, ctx.key_shares, dropped, KEY_SHARE)


def requests(ctx: ServerContext) -> dict[int, ExclusionRequest]:
    """After :func:`rebuild`: ask every surviving neighbour of a convicted client for its pairwise
    seed with it (none when nobody was convicted)."""
    cfg, graph, asked = ctx.config, ctx.g, {}
    for liar, proof in ctx.liars.items():
        for w in (graph.neighbors(liar) & ctx.u3) - set(ctx.liars):
            asked.setdefault(w, {})[liar] = proof
    return {w: ExclusionRequest(session_id=cfg.session_id, client_id=w, proofs=proofs)
            for w, proofs in sorted(asked.items())}


def finish(ctx: ServerContext) -> np.ndarray:
    """The unmasked sum of the honest contributors' quantized inputs, mod R (convicted clients
    taken out: their masked inputs subtracted, their pairwise masks removed with the seeds their
    neighbours revealed)."""
    cfg, graph = ctx.config, ctx.g
    liars = set(ctx.liars)
    contributors = sorted(ctx.u3 - liars)
    assert ctx.masked_sum is not None
    total = ctx.masked_sum.copy() if liars else ctx.masked_sum
    peer_seeds, peer_signs = [], []
    for liar in sorted(liars):
        if liar in ctx.u3:  # its masked input is in the running sum: take it out
            # its packed vector as spooled when it came (checked then)
            total -= unpack_into(ctx.spool.get(liar), cfg.vector_length, cfg.bits,
                                 np.empty(cfg.vector_length, dtype=np.uint64))
        for w, seed in sorted(ctx.exclusion_seeds.get(liar, {}).items()):
            peer_seeds.append(seed)  # w masked with the liar; w used sign +1 iff w < liar
            peer_signs.append(1 if w < liar else -1)
    for owner, key in sorted(ctx.dropped_keys.items()):
        pair = KeyPair.from_private_bytes(key)
        for w in sorted((graph.neighbors(owner) & ctx.u3) - liars):
            # w masked with owner because owner sent w its shares; w used sign +1 iff w < owner
            peer_seeds.append(pairwise_seed(pair, ctx.keys[w][1], session_id=ctx.sid, me=owner, peer=w))
            peer_signs.append(1 if w < owner else -1)
    r = cfg.modulus_range
    total = total & np.uint64(r - 1)
    total = total.astype(np.uint32 if r <= 2**32 else np.uint64)
    return unmask(total, modulus_range=r, self_seeds=[ctx.self_seeds[c] for c in contributors],
                  peer_seeds=peer_seeds, peer_signs=peer_signs)
