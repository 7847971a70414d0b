"""Typed stub of the native module ``secagg._core`` (pybind11). Use the wrappers in secagg.*."""

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

# --- prg/kernels ----------------------------------------------------------------------------
# Errors: secagg.errors.{SeedError, ModulusError, ConfigError, NonFiniteError, DTypeError,
# ShapeError, InputError}. threads=0 means automatic. Arrays must already have the exact dtype.

def prg_expand(seed: bytes, length: int, modulus_range: int, threads: int = 0) -> npt.NDArray[np.uint32] | npt.NDArray[np.uint64]: ...
def aes256_ctr(key: bytes, iv: bytes, nbytes: int) -> bytes: ...
def hkdf_sha256(ikm: bytes, salt: bytes | None, info: bytes, length: int) -> bytes: ...
def derive_prg_key(seed: bytes) -> bytes: ...
def prg_backend() -> str: ...
def available_backends() -> list[str]: ...
def kernel_backends() -> dict[str, str]: ...
def set_backend(name: str) -> None: ...
def quantize(
    update: npt.NDArray[np.float32] | npt.NDArray[np.float64],
    clipping_range: float,
    quantization_range: int,
    rounding_seed: bytes,
    threads: int = 0,
) -> npt.NDArray[np.uint32] | npt.NDArray[np.uint64]: ...
def quantize_and_mask(
    update: npt.NDArray[np.float32] | npt.NDArray[np.float64],
    clipping_range: float,
    quantization_range: int,
    modulus_range: int,
    self_seed: bytes | None,
    peer_seeds: Sequence[bytes],
    peer_signs: Sequence[int],
    rounding_seed: bytes,
    threads: int = 0,
) -> npt.NDArray[np.uint32] | npt.NDArray[np.uint64]: ...
def sum_masked(
    vectors: npt.NDArray[np.uint32] | npt.NDArray[np.uint64] | Sequence[npt.NDArray[np.uint32]] | Sequence[npt.NDArray[np.uint64]],
    modulus_range: int,
    threads: int = 0,
) -> npt.NDArray[np.uint32] | npt.NDArray[np.uint64]: ...
def unmask(
    masked_sum: npt.NDArray[np.uint32] | npt.NDArray[np.uint64],
    modulus_range: int,
    self_seeds: Sequence[bytes],
    peer_seeds: Sequence[bytes],
    peer_signs: Sequence[int],
    threads: int = 0,
) -> npt.NDArray[np.uint32] | npt.NDArray[np.uint64]: ...

# --- end prg/kernels --------------------------------------------------------------------------

# --- shamir -----------------------------------------------------------------------------------
# GF(2^61 - 1) Shamir sharing of 32-byte secrets; use secagg.shamir. Wrong dtypes raise TypeError,
# inconsistent sizes ValueError (the wrapper validates first).

SHAMIR_PRIME: int
SHAMIR_MAX_SHARES: int
SHAMIR_CHECK_POINTS: int

def shamir_sample_field(randomness: bytes, max_out: int) -> npt.NDArray[np.uint64]: ...
def shamir_split(
    secret: bytes,
    threshold: int,
    num_shares: int,
    coefficients: npt.NDArray[np.uint64],
    *,
    portable: bool = False,
) -> npt.NDArray[np.uint64]: ...
def shamir_combine_many(
    indices: Sequence[int],
    offsets: npt.NDArray[np.uint64],
    thresholds: npt.NDArray[np.uint32],
    values: Sequence[bytes],
    check_points: npt.NDArray[np.uint64],
) -> tuple[bytes, npt.NDArray[np.int32]]: ...
def shamir_combine_shares(
    groups: Sequence[Sequence[object]],
    share_type: type,
    check_points: npt.NDArray[np.uint64],
) -> tuple[bytes, npt.NDArray[np.int32]]: ...
def shamir_combine_encoded(
    groups: Sequence[Sequence[bytes]],
    version: int,
    check_points: npt.NDArray[np.uint64],
) -> tuple[bytes, npt.NDArray[np.int32]]: ...
def shamir_status_message(code: int) -> str: ...

# --- end shamir -------------------------------------------------------------------------------

# --- noise (distributed DP; use secagg.dp.native) ----------------------------------------------

def skellam_sample(seed: bytes, variance: float, n: int, threads: int = 0) -> npt.NDArray[np.int64]: ...
def quantize_and_mask_skellam(
    update: npt.NDArray[np.floating],
    clipping_range: float,
    quantization_range: int,
    modulus_range: int,
    self_seed: bytes | None,
    peer_seeds: Sequence[bytes],
    peer_signs: Sequence[int],
    rounding_seed: bytes,
    noise_seed: bytes,
    variance: float,
    threads: int = 0,
) -> npt.NDArray[np.uint32] | npt.NDArray[np.uint64]: ...

# --- end noise ---------------------------------------------------------------------------------

# --- packing (bit-packed masked vectors; use secagg.protocol.packing) ---------------------------

def pack_bits(values: npt.NDArray[np.uint32] | npt.NDArray[np.uint64], bits: int) -> bytes: ...
def unpack_bits(data: bytes, length: int, bits: int, out: npt.NDArray[np.uint64], add: bool = False) -> None: ...

# --- end packing -------------------------------------------------------------------------------
