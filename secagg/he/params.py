"""Encryption parameters for the HE aggregators, chosen and validated before any key exists.

BFV: the plain modulus ``t`` is the smallest prime ``= 1 (mod 2N)`` (so all N slots batch) above
``max_clients * (quantization_range - 1)``, so the slot-wise sum of up to ``max_clients`` quantized
updates can never wrap. The ring (N, coefficient moduli) is the smallest candidate whose noise
budget covers ``log2(max_clients)`` additions with a safety margin; the key holder re-checks the
budget on a real ciphertext when it creates the keys.

CKKS: fixed-point with scale ``2**scale_bits``; the headroom above the scale must hold
``max_clients * clipping_range``. :meth:`CKKSParameters.error_bound` states the per-coordinate
error of a sum.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

from .._validate import check_int
from ..core.quantize import check_clipping, check_quantization
from ..errors import ConfigError
from .primes import batching_prime_above

# Largest total coefficient-modulus bits for 128-bit security (HomomorphicEncryption.org standard,
# as enforced by SEAL's CoeffModulus::MaxBitCount).
MAX_COEFF_BITS_128 = {1024: 27, 2048: 54, 4096: 109, 8192: 218, 16384: 438, 32768: 881}

# Ring candidates, cheapest first: (N, coefficient moduli bit sizes). The last modulus is SEAL's
# "special" prime, used only for key switching; ciphertexts carry the others ("data" bits).
BFV_CANDIDATES: tuple[tuple[int, tuple[int, ...]], ...] = (
    (4096, (60, 49)),
    (4096, (36, 36, 37)),
    (8192, (60, 60, 60, 38)),
)
# Fresh BFV noise budget ~ data_bits - bits(t) - BFV_NOISE_BITS (measured: 7-8 bits for N<=8192).
BFV_NOISE_BITS = 9
# Budget bits kept in reserve beyond the log2(max_clients) that the additions consume.
BUDGET_MARGIN_BITS = 10

DEFAULT_MAX_CLIENTS = 1024
DEFAULT_QUANTIZATION_RANGE = 2**16
DEFAULT_CLIPPING_RANGE = 1.0

NOISE_STDDEV = 3.2  # SEAL's default error standard deviation


def check_ring(poly_modulus_degree: object,
               coeff_mod_bit_sizes: Iterable[int] | None) -> tuple[int, tuple[int, ...]]:
    """Validate an explicit ring: N a supported power of two, moduli within 128-bit security."""
    if poly_modulus_degree not in MAX_COEFF_BITS_128 or poly_modulus_degree < 4096:
        raise ConfigError(f"poly_modulus_degree must be one of 4096, 8192, 16384, 32768; "
                          f"got {poly_modulus_degree!r}")
    try:
        bits = tuple(int(b) for b in coeff_mod_bit_sizes)  # type: ignore[union-attr]  # None -> TypeError
    except TypeError:
        raise ConfigError("coeff_mod_bit_sizes must be a sequence of ints") from None
    if len(bits) < 2 or any(b < 20 or b > 60 for b in bits):
        raise ConfigError(f"coeff_mod_bit_sizes needs >= 2 moduli of 20..60 bits, got {bits}")
    if sum(bits) > MAX_COEFF_BITS_128[poly_modulus_degree]:
        raise ConfigError(f"coeff_mod_bit_sizes sum to {sum(bits)} bits; N={poly_modulus_degree} "
                          f"allows at most {MAX_COEFF_BITS_128[poly_modulus_degree]} for 128-bit "
                          "security")
    return int(poly_modulus_degree), bits  # type: ignore[arg-type]


@dataclass(frozen=True)
class BFVParameters:
    """Everything the three BFV roles agree on."""

    clipping_range: float
    quantization_range: int
    max_clients: int
    poly_modulus_degree: int
    coeff_mod_bit_sizes: tuple[int, ...]
    plain_modulus: int

    @property
    def slots(self) -> int:
        """Values per ciphertext (BFV batching uses all N slots)."""
        return self.poly_modulus_degree

    @property
    def data_bits(self) -> int:
        return sum(self.coeff_mod_bit_sizes[:-1])

    @property
    def required_budget_bits(self) -> int:
        """Noise budget a fresh ciphertext must have: additions of max_clients plus a margin."""
        return math.ceil(math.log2(self.max_clients)) + BUDGET_MARGIN_BITS

    def error_bound(self, num_clients: int) -> float:
        """Largest per-coordinate error of a decrypted sum of ``num_clients`` in-range updates.

        Encryption and summation are exact; only stochastic rounding errs, by less than one
        quantization step ``2c / (Q - 1)`` per client (values outside [-c, c] are clipped first).
        """
        return num_clients * 2.0 * self.clipping_range / (self.quantization_range - 1) + 1e-9


def choose_bfv_parameters(*, clipping_range: float = DEFAULT_CLIPPING_RANGE,
                          quantization_range: int = DEFAULT_QUANTIZATION_RANGE,
                          max_clients: int = DEFAULT_MAX_CLIENTS,
                          poly_modulus_degree: int | None = None,
                          coeff_mod_bit_sizes: tuple[int, ...] | None = None) -> BFVParameters:
    """Pick the cheapest ring and the plain modulus for these quantization settings."""
    c = check_clipping(clipping_range)
    q = check_quantization(quantization_range)
    n = check_int("max_clients", max_clients, lo=1)
    bound = n * (q - 1)
    if (poly_modulus_degree is None) != (coeff_mod_bit_sizes is None):
        raise ConfigError("give both poly_modulus_degree and coeff_mod_bit_sizes, or neither")
    candidates: tuple[tuple[int, tuple[int, ...]], ...]
    if poly_modulus_degree is not None:
        candidates = (check_ring(poly_modulus_degree, coeff_mod_bit_sizes),)
    else:
        candidates = BFV_CANDIDATES
    need = math.ceil(math.log2(n)) + BUDGET_MARGIN_BITS
    for ring_n, bits in candidates:
        t = batching_prime_above(bound, ring_n)
        predicted = sum(bits[:-1]) - t.bit_length() - BFV_NOISE_BITS
        if predicted >= need:
            return BFVParameters(c, q, n, ring_n, bits, t)
    raise ConfigError(
        f"max_clients * (quantization_range - 1) = {bound} needs a {bound.bit_length() + 1}-bit "
        f"plain modulus, which leaves too little noise budget for {n} additions in the "
        f"{'given' if poly_modulus_degree else 'supported'} ring(s); lower quantization_range or "
        "max_clients" + ("" if poly_modulus_degree is None else ", or use a larger ring")
    )


@dataclass(frozen=True)
class CKKSParameters:
    """Everything the three CKKS roles agree on."""

    clipping_range: float
    max_clients: int
    poly_modulus_degree: int
    coeff_mod_bit_sizes: tuple[int, ...]
    scale_bits: int

    @property
    def slots(self) -> int:
        """Values per ciphertext (CKKS packs N/2 complex slots; we use their real parts)."""
        return self.poly_modulus_degree // 2

    @property
    def data_bits(self) -> int:
        return sum(self.coeff_mod_bit_sizes[:-1])

    def per_client_error(self) -> float:
        """Bound on one fresh ciphertext's decoding error in any slot, in update units.

        Encryption noise bound of a fresh CKKS ciphertext (Cheon-Kim-Kim-Song 2017, Lemma 1):
        ``B_clean = 8*sqrt(2)*sigma*N + 6*sigma*sqrt(N) + 16*sigma*sqrt(h*N)`` with ``sigma = 3.2``
        and ``h = N`` (SEAL's dense ternary secret), holding except with negligible probability;
        plus ``N`` for the rounding in encoding and decoding; divided by the scale.
        """
        n = self.poly_modulus_degree
        b_clean = (8 * math.sqrt(2) * NOISE_STDDEV * n + 6 * NOISE_STDDEV * math.sqrt(n)
                   + 16 * NOISE_STDDEV * n)
        return (b_clean + n) / 2.0**self.scale_bits

    def error_bound(self, num_clients: int) -> float:
        """Largest per-coordinate error of a decrypted sum of ``num_clients`` clipped updates.

        Errors add under homomorphic addition, so a sum errs by at most ``num_clients`` times
        :meth:`per_client_error`, plus float64 rounding of the result (``2**-45`` relative).
        """
        return num_clients * (self.per_client_error() + self.clipping_range * 2.0**-45)


def choose_ckks_parameters(*, clipping_range: float = DEFAULT_CLIPPING_RANGE,
                           max_clients: int = DEFAULT_MAX_CLIENTS, scale_bits: int = 40,
                           poly_modulus_degree: int = 4096,
                           coeff_mod_bit_sizes: tuple[int, ...] = (60, 49)) -> CKKSParameters:
    """Validate CKKS settings: the sum of max_clients clipped values must fit above the scale."""
    c = check_clipping(clipping_range)
    n = check_int("max_clients", max_clients, lo=1)
    ring_n, bits = check_ring(poly_modulus_degree, coeff_mod_bit_sizes)
    s = check_int("scale_bits", scale_bits, lo=20)
    data_bits = sum(bits[:-1])
    # |sum| * 2**scale must stay below q/2 with one bit to spare: log2(n*c) + s + 2 <= data_bits.
    headroom = data_bits - s - 2
    if math.log2(n * c) > headroom:
        raise ConfigError(
            f"max_clients * clipping_range = {n * c:g} exceeds 2**{headroom}, the room above the "
            f"scale 2**{s} in a {data_bits}-bit modulus; lower scale_bits, max_clients or "
            "clipping_range"
        )
    return CKKSParameters(c, n, ring_n, bits, s)
