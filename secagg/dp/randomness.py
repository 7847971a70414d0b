"""Randomness for the DP layer: labelled sub-seeds and uniforms, all from the secagg PRG.

Every random bit here (rotation signs, rounding, noise) comes from :func:`secagg.prg_expand`
(AES-256-CTR keyed by HKDF of a 32-byte seed) under a sub-seed derived from the caller's seed;
nothing comes from ``numpy.random``. The layout is a contract shared with the native noise
kernel, so both produce the same integers from the same seed::

    sub_seed(seed, label, index) = HKDF-SHA256(ikm=seed, salt=None,
                                               info=b"secagg-dp-v1/" + label + b"/" + index (8 bytes BE),
                                               length=32)
    word i of a stream           = 64-bit little-endian word i of PRG(sub_seed)  (modulus 2**64)
    uniform from word w          = ((w >> 11) + 0.5) * 2**-53, in the open interval (0, 1)
"""

from __future__ import annotations

import os

import numpy as np
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from ..core.prg import check_seed, prg_expand

DP_INFO = b"secagg-dp-v1/"
_TWO_POW_M53 = 2.0**-53


def fresh_seed() -> bytes:
    """32 bytes from the OS CSPRNG."""
    return os.urandom(32)


def sub_seed(seed: bytes, label: bytes, index: int = 0) -> bytes:
    """The 32-byte seed for one purpose (``label``) and one counter (``index``) under ``seed``."""
    seed = check_seed(seed)
    info = DP_INFO + label + b"/" + int(index).to_bytes(8, "big")
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info).derive(seed)


def words(seed: bytes, count: int) -> np.ndarray:
    """The first ``count`` 64-bit words of PRG(``seed``)."""
    return prg_expand(seed, count, modulus_range=2**64)


def uniforms_from_words(w: np.ndarray) -> np.ndarray:
    """Map 64-bit words to float64 uniforms in (0, 1) (53 random bits each)."""
    return ((w >> np.uint64(11)).astype(np.float64) + 0.5) * _TWO_POW_M53


def uniforms(seed: bytes, count: int) -> np.ndarray:
    """``count`` uniforms in (0, 1) from PRG(``seed``)."""
    return uniforms_from_words(words(seed, count))


def signs(seed: bytes, count: int) -> np.ndarray:
    """``count`` independent uniform signs (+1.0/-1.0), the lowest bit of each 64-bit word."""
    w = words(seed, count)
    return 1.0 - 2.0 * (w & np.uint64(1)).astype(np.float64)
