"""Round 2: decrypt the shares addressed to this client, then send the input masked with the
self mask and the pairwise masks of every neighbour that shared its keys, bit-packed."""

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
from ..messages import MaskedInputReply, MaskedInputRequest
from ..packing import pack
from ..stage import Stage
from ..transcript import share_aad
from .context import ClientContext


def _open(ctx: ClientContext, sender: int, blob: bytes) -> tuple[bytes, bytes]:
    """Decrypt ``sender``'s envelope; its two encoded shares are validated by :func:`_validate`."""
    cfg, me = ctx.cfg, ctx.client_id
    plaintext = decrypt(ctx.share_keys[sender], blob, share_aad(cfg.session_id, sender, me))
    try:
        fields = msgpack.unpackb(plaintext, raw=False, use_list=True)
    except (ValueError, TypeError) as exc:
        raise AuthenticationError(f"shares from client {sender} are malformed: {exc}") from None
    if not (type(fields) is list and len(fields) == 4 and fields[0] == sender and fields[1] == me):
        raise AuthenticationError(f"shares from client {sender} are malformed: bad share envelope")
    return fields[2], fields[3]


def _validate(opened: dict[int, tuple[bytes, bytes]]) -> None:
    """Every share must parse (:class:`~secagg.core.shamir.Share`); one vectorised pass, and only on
    failure a second one per sender to name who sent the malformed share."""
    try:
        validate_share_bytes([share for pair in opened.values() for share in pair])
    except ShamirError:
        for sender, pair in opened.items():
            try:
                validate_share_bytes(pair)
            except ShamirError as exc:
                raise AuthenticationError(f"shares from client {sender} are malformed: {exc}"
                                          ) from None
        raise  # unreachable: the batch and the per-sender checks agree


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
    opened = {sender: _open(ctx, sender, blob) for sender, blob in request.ciphertexts.items()}
    _validate(opened)
    ctx.held = {me: ctx.own_shares, **opened}
    ctx.masked_with = frozenset(request.ciphertexts)
    peers = sorted(ctx.masked_with)
    seeds = [pairwise_seed(ctx.s_keys, ctx.peer_keys[p][1], session_id=cfg.session_id, me=me, peer=p)
             for p in peers]
    signs = [1 if me < p else -1 for p in peers]
    vector = masked_vector(ctx, seeds, signs)
    return MaskedInputReply(session_id=cfg.session_id, client_id=me, length=cfg.vector_length,
                            bits=cfg.bits, data=pack(vector, cfg.bits))
