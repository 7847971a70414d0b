"""The AES-CTR pseudo-random generator that produces every mask.

Specification (an interoperability contract: a phone app linking the C ABI and the Python server
must derive identical masks):

* key = HKDF-SHA256(ikm=seed, salt=None, info=b"secagg-prg-v1", length=32) for a 32-byte seed;
* keystream = AES-256-CTR under that key, first counter block 16 zero bytes, incremented as a
  128-bit big-endian integer (NIST SP 800-38A);
* the keystream is read as little-endian unsigned words: 32-bit words when ``modulus_range`` is a
  power of two <= 2**32, 64-bit words otherwise;
* power-of-two ``modulus_range``: element i is word i with only its low log2(modulus_range) bits;
* any other ``modulus_range`` (at most 2**62): each 64-bit word is masked to the smallest power
  of two >= modulus_range and rejected while >= modulus_range (unbiased rejection sampling).

Results are uint32 when ``modulus_range <= 2**32``, else uint64.

Backends: the native core picks VAES (256-bit), AES-NI, ARMv8 Crypto Extensions, or a
constant-time bitsliced software AES (on AVX2, or on baseline 128-bit vectors: "portable") at run
time; all give identical output and all are constant-time. ``SECAGG_FORCE_PORTABLE=1`` in the
environment (read at every call) or :func:`set_backend` forces one; :func:`prg_backend` names the
one in use and :func:`kernel_backends` what every kernel family runs.
"""

from __future__ import annotations

import os

import numpy as np

from .. import _core
from .._validate import check_int
from ..errors import ConfigError, ModulusError, SeedError, ShapeError

SEED_BYTES = 32
PRG_INFO = b"secagg-prg-v1"
MAX_MODULUS = 2**64
MAX_GENERAL_MODULUS = 2**62
MAX_VECTOR_ELEMENTS = 2**31 - 1
"""The longest vector any kernel takes or makes (a longer one is refused before any work)."""
MAX_THREADS = 1024
THREADS_ENV = "SECAGG_THREADS"


def check_seed(seed: object, what: str = "seed") -> bytes:
    """Return ``seed`` as bytes, or raise :class:`SeedError` unless it is exactly 32 bytes."""
    if not isinstance(seed, (bytes, bytearray, memoryview)):
        raise SeedError(f"{what} must be bytes of length {SEED_BYTES}, got {type(seed).__name__}")
    seed = bytes(seed)
    if len(seed) != SEED_BYTES:
        raise SeedError(f"{what} has {len(seed)} bytes; seeds must be exactly {SEED_BYTES} bytes "
                        "(e.g. os.urandom(32))")
    return seed


def check_modulus(modulus_range: object) -> int:
    """Validate ``modulus_range``: a power of two in [2, 2**64] or an integer in [3, 2**62]."""
    r = check_int("modulus_range", modulus_range, lo=2, hi=MAX_MODULUS, error=ModulusError)
    if r & (r - 1) and r > MAX_GENERAL_MODULUS:
        raise ModulusError(f"modulus_range {r} is not a power of two, so it must be at most 2**62")
    return r


def check_threads(threads: int | None) -> int:
    """``None`` -> ``$SECAGG_THREADS`` if set, else 0 (automatic: all cores for large inputs,
    1 for small ones). Worker processes that already run one per core set it to 1."""
    if threads is None:
        env = os.environ.get(THREADS_ENV, "").strip()
        if env in ("", "0", "auto"):
            return 0
        if not env.isdigit() or not 1 <= int(env) <= MAX_THREADS:
            raise ConfigError(f"{THREADS_ENV}={env!r:.40} is not a thread count: set it to an int in "
                              f"[1, {MAX_THREADS}], or to 0 / auto / nothing for automatic")
        return int(env)
    return check_int("threads", threads, lo=1, hi=MAX_THREADS)


def prg_expand(seed: bytes, length: int, *, modulus_range: int = 2**32,
               threads: int | None = None) -> np.ndarray:
    """The first ``length`` elements of PRG(``seed``), each in [0, ``modulus_range``)."""
    seed = check_seed(seed)
    n = check_int("length", length, lo=0, hi=MAX_VECTOR_ELEMENTS, error=ShapeError)
    r = check_modulus(modulus_range)
    return _core.prg_expand(seed, n, r, check_threads(threads))


BACKENDS = ("portable", "bitsliced-avx2", "armce", "aesni", "vaes")


def prg_backend() -> str:
    """The AES backend in use now, one of :data:`BACKENDS`."""
    return _core.prg_backend()


def available_backends() -> list[str]:
    """The AES backends this CPU supports, slowest first (the last is the automatic choice)."""
    return list(_core.available_backends())


def kernel_backends() -> dict[str, str]:
    """What each kernel family runs now: ``aes`` (a backend name); ``quantize``, ``field``,
    ``noise`` and ``shamir`` (``"avx2"`` or ``"portable"``)."""
    return dict(_core.kernel_backends())


def set_backend(name: str) -> None:
    """Force one of :data:`BACKENDS` process-wide, or restore ``"auto"``. ``"portable"`` also
    switches every SIMD kernel (quantization, field arithmetic, noise, Shamir) to portable code."""
    if name != "auto" and name not in BACKENDS:
        choices = ", ".join(repr(b) for b in ("auto",) + BACKENDS)
        raise ConfigError(f"unknown backend {name!r}; use {choices}")
    _core.set_backend(name)
