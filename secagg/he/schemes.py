"""The two schemes as small strategy objects: how to build a context, encode, encrypt, load, decode.

Roles (:mod:`.keyholder`, :mod:`.server`, :mod:`.client`) are written once against this surface.
Only this module and :mod:`._tenseal` touch TenSEAL's API.
"""

from __future__ import annotations

from typing import Any, Protocol

import numpy as np

from ..core.quantize import dequantize, quantize
from ..errors import CiphertextError, InputError, KeyMismatchError, NoiseBudgetError
from ._tenseal import require_tenseal
from .params import BFVParameters, CKKSParameters


class Scheme(Protocol):
    """What the roles need from a scheme."""

    name: str
    slots: int
    result_dtype: Any
    params: Any

    def new_context(self, n_threads: int | None = None) -> Any: ...
    def encode(self, update: np.ndarray, rounding_seed: bytes | None = None) -> np.ndarray: ...
    def check_encoded(self, values: np.ndarray) -> np.ndarray: ...
    def encrypt_chunk(self, context: Any, values: np.ndarray) -> bytes: ...
    def load(self, context: Any, data: bytes) -> Any: ...
    def decrypt_chunk(self, context: Any, vector: Any) -> np.ndarray: ...
    def decode(self, total: np.ndarray, num_clients: int) -> np.ndarray: ...
    def error_bound(self, num_clients: int) -> float: ...


def _native(ts: Any, name: str) -> Any:
    """TenSEAL's C++ vector class, or None if this TenSEAL version does not expose it.

    The public ``ts.bfv_vector(ctx, list)`` converts the list to numpy, back to a list, into a
    PlainTensor and to a list again before encrypting. The C++ constructor reads any Python
    sequence, so :func:`_encrypt_native` hands it a zero-copy ``memoryview`` of the numpy chunk:
    no Python list is built at all.
    """
    return getattr(getattr(ts, "_ts_cpp", None), name, None)


def _encrypt_native(vector_class: Any, context: Any, values: np.ndarray) -> bytes:
    """Encrypt one chunk with TenSEAL's C++ vector class and serialize it."""
    try:
        return vector_class(context.data, np.ascontiguousarray(values).data).serialize()
    except TypeError:  # a binding that insists on a list
        return vector_class(context.data, values.tolist()).serialize()


def _load_error(exc: Exception) -> Exception:
    text = str(exc)
    if "invalid" in text:  # SEAL: parms_id not in this context, or coefficients out of range
        return KeyMismatchError(f"ciphertext does not belong to this encryption context ({text})")
    return CiphertextError(f"bytes are not a ciphertext of this scheme ({text})")


class BFVScheme:
    """Exact integer sums: quantize, batch into all N slots, add mod the plain modulus ``t``."""

    name = "bfv"
    result_dtype = np.uint64

    def __init__(self, params: BFVParameters) -> None:
        self.params = params
        self.slots = params.slots
        self._ts = require_tenseal()
        self._native_vector = _native(self._ts, "BFVVector")

    def new_context(self, n_threads: int | None = None) -> Any:
        ts = self._ts
        p = self.params
        return ts.context(ts.SCHEME_TYPE.BFV, poly_modulus_degree=p.poly_modulus_degree,
                          plain_modulus=p.plain_modulus,
                          coeff_mod_bit_sizes=list(p.coeff_mod_bit_sizes), n_threads=n_threads)

    def encode(self, update: np.ndarray, rounding_seed: bytes | None = None) -> np.ndarray:
        """Clip and stochastically round to integers in [0, Q-1] (the native quantizer).

        One thread: a client quantizes one small vector, and simulated clients run one after
        another, so a thread pool per call would cost more than it saves.
        """
        return quantize(update, clipping_range=self.params.clipping_range,
                        quantization_range=self.params.quantization_range,
                        rounding_seed=rounding_seed, threads=1)

    def check_encoded(self, values: np.ndarray) -> np.ndarray:
        """Integers in [0, Q-1] ready to encrypt (floats refused, never cast)."""
        arr = np.asarray(values)
        if arr.dtype.kind not in "ui" or arr.ndim != 1:
            raise InputError(f"BFV clients encrypt a 1-D integer array, got {arr.dtype} "
                             f"with shape {arr.shape}; quantize float updates first")
        if arr.size and (int(arr.min()) < 0 or int(arr.max()) >= self.params.quantization_range):
            raise InputError("quantized values must lie in [0, quantization_range - 1]")
        return arr

    def encrypt_chunk(self, context: Any, values: np.ndarray) -> bytes:
        if self._native_vector is not None:
            return _encrypt_native(self._native_vector, context, values)
        return self._ts.bfv_vector(context, values.tolist()).serialize()

    def load(self, context: Any, data: bytes) -> Any:
        try:
            return self._ts.bfv_vector_from(context, data)
        except (ValueError, RuntimeError, TypeError) as exc:
            raise _load_error(exc) from None

    def noise_budget(self, context: Any, vector: Any) -> int:
        """Bits of invariant noise budget left (needs the secret key); 0 means undecryptable."""
        sealapi = self._ts.sealapi
        decryptor = sealapi.Decryptor(context.seal_context().data, context.secret_key().data)
        return min(decryptor.invariant_noise_budget(ct) for ct in vector.ciphertext())

    def decrypt_chunk(self, context: Any, vector: Any) -> np.ndarray:
        if self.noise_budget(context, vector) <= 0:
            raise NoiseBudgetError(
                "the encrypted aggregate has no noise budget left: some contribution was made "
                "under another key or was corrupted; the round's sum cannot be recovered")
        raw = np.asarray(vector.decrypt(), dtype=np.int64)
        return np.mod(raw, self.params.plain_modulus).astype(np.uint64)

    def decode(self, total: np.ndarray, num_clients: int) -> np.ndarray:
        p = self.params
        return dequantize(total, clipping_range=p.clipping_range,
                          quantization_range=p.quantization_range,
                          modulus_range=p.plain_modulus, num_clients=num_clients)

    def error_bound(self, num_clients: int) -> float:
        return self.params.error_bound(num_clients)


class CKKSScheme:
    """Approximate float sums: clip, encode at scale ``2**scale_bits`` into N/2 slots, add."""

    name = "ckks"
    result_dtype = np.float64

    def __init__(self, params: CKKSParameters) -> None:
        self.params = params
        self.slots = params.slots
        self._ts = require_tenseal()
        self._native_vector = _native(self._ts, "CKKSVector")

    def new_context(self, n_threads: int | None = None) -> Any:
        ts = self._ts
        p = self.params
        context = ts.context(ts.SCHEME_TYPE.CKKS, poly_modulus_degree=p.poly_modulus_degree,
                             coeff_mod_bit_sizes=list(p.coeff_mod_bit_sizes), n_threads=n_threads)
        context.global_scale = 2.0**p.scale_bits
        return context

    def encode(self, update: np.ndarray, rounding_seed: bytes | None = None) -> np.ndarray:
        """Clip to [-c, c] so the stated error bound and the no-overflow guarantee hold."""
        arr = np.asarray(update, dtype=np.float64)
        c = self.params.clipping_range
        return np.clip(arr, -c, c)

    def check_encoded(self, values: np.ndarray) -> np.ndarray:
        arr = np.asarray(values)
        c = self.params.clipping_range
        if arr.dtype.kind != "f" or arr.ndim != 1:
            raise InputError(f"CKKS clients encrypt a 1-D float array, got {arr.dtype} "
                             f"with shape {arr.shape}")
        if arr.size and (not np.all(np.isfinite(arr)) or float(np.max(np.abs(arr))) > c):
            raise InputError(f"values must be finite and within [-{c}, {c}]; clip them first")
        return arr

    def encrypt_chunk(self, context: Any, values: np.ndarray) -> bytes:
        if self._native_vector is not None:
            return _encrypt_native(self._native_vector, context, values)
        return self._ts.ckks_vector(context, values.tolist()).serialize()

    def load(self, context: Any, data: bytes) -> Any:
        try:
            return self._ts.ckks_vector_from(context, data)
        except (ValueError, RuntimeError, TypeError) as exc:
            raise _load_error(exc) from None

    def decrypt_chunk(self, context: Any, vector: Any) -> np.ndarray:
        return np.asarray(vector.decrypt(), dtype=np.float64)

    def decode(self, total: np.ndarray, num_clients: int) -> np.ndarray:
        """Check the sum is plausible: garbage (another key, corruption) decodes far out of range."""
        limit = num_clients * self.params.clipping_range + self.error_bound(num_clients)
        if total.size and not (np.all(np.isfinite(total)) and float(np.max(np.abs(total))) <= limit):
            raise NoiseBudgetError(
                f"the decrypted aggregate leaves [-{limit:g}, {limit:g}]: some contribution was "
                "made under another key or was corrupted; the round's sum cannot be recovered")
        return total

    def error_bound(self, num_clients: int) -> float:
        return self.params.error_bound(num_clients)


def make_scheme(params: BFVParameters | CKKSParameters) -> BFVScheme | CKKSScheme:
    """The scheme object for a parameter set."""
    return BFVScheme(params) if isinstance(params, BFVParameters) else CKKSScheme(params)
