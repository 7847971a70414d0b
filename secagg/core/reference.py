"""A straightforward numpy + ``cryptography`` implementation of the kernels.

Written from the specification in :mod:`secagg.core.prg` and :mod:`secagg.core.quantize`, independently of
the native core: it is the test oracle and the benchmark's baseline. Not for production use (it
is slower and allocates a full keystream per seed).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

PRG_INFO = b"secagg-prg-v1"


def prg_key(seed: bytes) -> bytes:
    """HKDF-SHA256(seed, salt=None, info=b"secagg-prg-v1") -> 32-byte AES key."""
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=PRG_INFO).derive(seed)


def keystream(seed: bytes, nbytes: int) -> bytes:
    """AES-256-CTR keystream of PRG(seed) from the all-zero counter block."""
    enc = Cipher(algorithms.AES(prg_key(seed)), modes.CTR(bytes(16))).encryptor()
    return enc.update(bytes(nbytes)) + enc.finalize()


def prg_expand(seed: bytes, length: int, *, modulus_range: int = 2**32) -> np.ndarray:
    """The first ``length`` PRG elements mod ``modulus_range`` (see secagg.core.prg for the spec)."""
    r = modulus_range
    out_dtype = np.uint32 if r <= 2**32 else np.uint64
    if r & (r - 1) == 0:
        if r <= 2**32:
            words = np.frombuffer(keystream(seed, 4 * length), dtype="<u4").astype(np.uint64)
        else:
            words = np.frombuffer(keystream(seed, 8 * length), dtype="<u8")
        return (words & np.uint64(r - 1)).astype(out_dtype)
    mask = np.uint64((1 << (r - 1).bit_length()) - 1)
    enc = Cipher(algorithms.AES(prg_key(seed)), modes.CTR(bytes(16))).encryptor()
    accepted: list[np.ndarray] = []
    have = 0
    while have < length:
        need = max(64, 2 * (length - have) + 16)  # acceptance probability > 1/2
        words = np.frombuffer(enc.update(bytes(8 * need)), dtype="<u8") & mask
        ok = words[words < np.uint64(r)]
        accepted.append(ok)
        have += ok.size
    vals = np.concatenate(accepted)[:length] if accepted else np.zeros(0, np.uint64)
    return vals.astype(out_dtype)


def quantize(update: np.ndarray, *, clipping_range: float, quantization_range: int,
             rounding_seed: bytes) -> np.ndarray:
    """The quantization rule of secagg.core.quantize, in numpy (float64 arithmetic, same order)."""
    c = float(clipping_range)
    qmax = quantization_range - 1
    x = np.asarray(update).astype(np.float64)
    x = np.minimum(np.maximum(x, -c), c)
    t = (x + c) * (float(qmax) / (2.0 * c))
    fl = np.floor(t)
    frac = t - fl
    w = prg_expand(rounding_seed, x.size, modulus_range=2**32).astype(np.float64)
    q = fl.astype(np.uint64) + (w < frac * 4294967296.0).astype(np.uint64)
    q = np.minimum(q, np.uint64(qmax))
    return q.astype(np.uint32 if quantization_range <= 2**32 else np.uint64)


def _apply(acc: list[int] | np.ndarray, masks: list[tuple[bytes, int]], r: int, d: int) -> np.ndarray:
    """acc + sum sign * PRG(seed) mod r, with Python-int-safe arithmetic (object arrays if needed)."""
    if r <= 2**32:
        total = np.asarray(acc, dtype=np.int64) % r
        for seed, sign in masks:
            total = (total + sign * prg_expand(seed, d, modulus_range=r).astype(np.int64)) % r
        return total.astype(np.uint32)
    total = np.asarray(acc, dtype=np.uint64).astype(object) % r
    for seed, sign in masks:
        total = (total + sign * prg_expand(seed, d, modulus_range=r).astype(object)) % r
    return total.astype(np.uint64)


def quantize_and_mask(update: np.ndarray, *, clipping_range: float, quantization_range: int,
                      modulus_range: int, self_seed: bytes | None, peer_seeds: Sequence[bytes],
                      peer_signs: Sequence[int], rounding_seed: bytes) -> np.ndarray:
    """(quantize(update) + PRG(self_seed) + sum_j sign_j * PRG(peer_seed_j)) mod R."""
    q = quantize(update, clipping_range=clipping_range, quantization_range=quantization_range,
                 rounding_seed=rounding_seed)
    masks = ([(self_seed, 1)] if self_seed is not None else []) + list(zip(peer_seeds, peer_signs))
    return _apply(q, masks, modulus_range, q.size)


def sum_masked(vectors: Sequence[np.ndarray], *, modulus_range: int) -> np.ndarray:
    """Element-wise sum mod R."""
    r = modulus_range
    d = len(vectors[0])
    if r <= 2**32:
        total = np.zeros(d, dtype=np.uint64)
        for v in vectors:
            total = (total + np.asarray(v, dtype=np.uint64)) % np.uint64(r)
        return total.astype(np.uint32)
    total_o = np.zeros(d, dtype=object)
    for v in vectors:
        total_o = (total_o + np.asarray(v, dtype=np.uint64).astype(object)) % r
    return total_o.astype(np.uint64)


def unmask(masked_sum: np.ndarray, *, modulus_range: int, self_seeds: Sequence[bytes],
           peer_seeds: Sequence[bytes], peer_signs: Sequence[int]) -> np.ndarray:
    """masked_sum - sum PRG(self_seeds) - sum_j sign_j * PRG(peer_seeds_j) mod R."""
    masks = [(s, -1) for s in self_seeds] + [(s, -int(g)) for s, g in zip(peer_seeds, peer_signs)]
    return _apply(np.asarray(masked_sum), masks, modulus_range, len(masked_sum))
