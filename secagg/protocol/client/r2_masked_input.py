"""Round 2: decrypt and check the shares addressed to this client (refusing a sender's that do not
decrypt, parse or match its commitments), then send the input masked with the self mask and the
pairwise masks of every neighbour that shared its keys, bit-packed."""

from __future__ import annotations

import msgpack
import numpy as np

from ...core.crypto import decrypt, pairwise_seed
from ...core.masking import quantize_and_mask, quantize_and_mask_skellam
from ...core.prg import prg_expand
from ...core.shamir import validate_share_bytes
from ...errors import (
    AuthenticationError,
    ConfigError,
    ShamirError,
    ThresholdError,
    UnknownClientError,
)
from ..config import INPUT_FLOAT, MAX_NOISY_QUANTIZATION
from ..messages import COMMITMENT_BYTES, MaskedInputReply, MaskedInputRequest
from ..packing import pack
from ..stage import Stage
from ..transcript import share_aad, share_hash_pair
from .context import ClientContext


def _open(ctx: ClientContext, sender: int, envelope: bytes) -> tuple[bytes, bytes]:
    """Decrypt ``sender``'s envelope; in the active model its two shares must match the hashes
    ``sender`` committed to in front of the ciphertext. Raises if anything is wrong (that the shares
    parse is checked by :func:`_open_all`, in one pass)."""
    cfg, me = ctx.cfg, ctx.client_id
    commitment, blob = (envelope[:COMMITMENT_BYTES], envelope[COMMITMENT_BYTES:]) if cfg.active else (b"", envelope)
    plaintext = decrypt(ctx.share_keys[sender], blob, share_aad(ctx.sid, sender, me))
    try:
        fields = msgpack.unpackb(plaintext, raw=False, use_list=True)
    except (ValueError, TypeError) as exc:
        raise AuthenticationError(f"shares from client {sender} are malformed: {exc}") from None
    if not (type(fields) is list and len(fields) == 4 and fields[0] == sender and fields[1] == me
            and type(fields[2]) is bytes and type(fields[3]) is bytes):
        raise AuthenticationError(f"shares from client {sender} are malformed: bad share envelope")
    b_share, s_share = fields[2], fields[3]
    if cfg.active and b"".join(share_hash_pair(ctx.sid, sender, me, b_share, s_share)) != commitment:
        raise AuthenticationError(f"shares from client {sender} do not match its commitments")
    return b_share, s_share


def _open_all(ctx: ClientContext, request: MaskedInputRequest) -> tuple[dict[int, tuple[bytes, bytes]], set[int]]:
    """The shares of every sender that pass :func:`_open`, and the senders whose do not: their
    shares are refused (not held, never revealed) instead of aborting this client, so one
    malicious sender cannot take its honest neighbours out of the round."""
    opened, refused = {}, set()
    for sender, blob in request.ciphertexts.items():
        try:
            opened[sender] = _open(ctx, sender, blob)
        except AuthenticationError:
            refused.add(sender)
    try:  # one vectorised pass; only on failure a second one per sender to find who sent what
        validate_share_bytes([share for pair in opened.values() for share in pair])
    except ShamirError:
        for sender, pair in list(opened.items()):
            try:
                validate_share_bytes(pair)
            except ShamirError:
                del opened[sender]
                refused.add(sender)
    return opened, refused


def noisy_masked_vector(ctx: ClientContext, peer_seeds: list[bytes],
                        peer_signs: list[int]) -> np.ndarray:
    """(input + Skellam noise + PRG(b) + sum_j sign_j PRG(s_j)) mod R in one native pass.

    A quantized input u in [0, Q) goes through the kernel's quantizer as the identity: with
    c = (Q - 1) / 2 the float u - c maps back to exactly u (scale 1, no fractional part), which
    is exact in float64 for Q <= 2**52.
    """
    cfg, plan = ctx.cfg, ctx.noise
    assert ctx.self_seed is not None and plan is not None
    if cfg.input_kind == INPUT_FLOAT:
        update, c = ctx.update, cfg.clipping_range
    else:
        if cfg.quantization_range > MAX_NOISY_QUANTIZATION:
            raise ConfigError(f"in-kernel noise on quantized inputs needs quantization_range <= "
                              f"2**52, got {cfg.quantization_range}")
        c = (cfg.quantization_range - 1) / 2
        update = ctx.update.astype(np.float64) - c
    return quantize_and_mask_skellam(update, clipping_range=c,
                                     quantization_range=cfg.quantization_range,
                                     modulus_range=cfg.modulus_range, self_seed=ctx.self_seed,
                                     peer_seeds=peer_seeds, peer_signs=peer_signs,
                                     noise_seed=plan.seed, noise_variance=plan.variance,
                                     rounding_seed=ctx.rounding_seed)


def masked_vector(ctx: ClientContext, peer_seeds: list[bytes], peer_signs: list[int]) -> np.ndarray:
    """(input + PRG(b) + sum_j sign_j PRG(s_j)) mod R, via the fused native kernel for floats
    (plus the client's noise, in the same pass, when it has a :class:`NoisePlan`)."""
    cfg = ctx.cfg
    assert ctx.self_seed is not None
    if ctx.noise is not None:
        return noisy_masked_vector(ctx, peer_seeds, peer_signs)
    if cfg.input_kind == INPUT_FLOAT:
        return quantize_and_mask(ctx.update, clipping_range=cfg.clipping_range,
                                 quantization_range=cfg.quantization_range,
                                 modulus_range=cfg.modulus_range, self_seed=ctx.self_seed,
                                 peer_seeds=peer_seeds, peer_signs=peer_signs,
                                 rounding_seed=ctx.rounding_seed)
    r, d = cfg.modulus_range, cfg.vector_length
    acc = ctx.update.astype(np.uint64) + prg_expand(ctx.self_seed, d, modulus_range=r)
    for seed, sign in zip(peer_seeds, peer_signs):
        mask = prg_expand(seed, d, modulus_range=r).astype(np.uint64)
        acc += mask if sign > 0 else (np.uint64(0) - mask)  # -mask mod 2**64; R divides 2**64, so exact
    return acc & np.uint64(r - 1)


def handle(ctx: ClientContext, request: MaskedInputRequest) -> MaskedInputReply:
    cfg, me = ctx.cfg, ctx.client_id
    assert ctx.s_keys is not None and ctx.own_shares is not None
    for sender in request.ciphertexts:
        if sender not in ctx.peer_keys:
            raise UnknownClientError(f"the server forwarded shares from client {sender}, which did "
                                     f"not advertise keys to client {me}")
    holders = len(request.ciphertexts) + 1
    if holders < cfg.threshold:
        raise ThresholdError(f"only {holders} of client {me}'s group shared keys; threshold is "
                             f"{cfg.threshold}", stage=Stage.MASKED_INPUT.name, survivors=holders,
                             threshold=cfg.threshold)
    opened, refused = _open_all(ctx, request)
    ctx.held = {me: ctx.own_shares, **opened}
    ctx.refused = frozenset(refused)
    # a refused sender is still masked with: it added the pairwise mask with this client too
    ctx.masked_with = frozenset(request.ciphertexts)
    peers = sorted(ctx.masked_with)
    seeds = [pairwise_seed(ctx.s_keys, ctx.peer_keys[p][1], session_id=ctx.sid, me=me, peer=p)
             for p in peers]
    signs = [1 if me < p else -1 for p in peers]
    vector = masked_vector(ctx, seeds, signs)
    # used up: the input, its rounding seed and noise plan, the share-encryption keys; and, but in
    # the active model (an exclusion request needs them), the neighbours' public keys
    ctx.update, ctx.rounding_seed, ctx.noise, ctx.share_keys = None, None, None, {}  # type: ignore[assignment]
    if not cfg.active:
        ctx.peer_keys = {}
    return MaskedInputReply(session_id=cfg.session_id, client_id=me, length=cfg.vector_length,
                            bits=cfg.bits, data=pack(vector, cfg.bits), refused=tuple(sorted(refused)))
