"""Primes for BFV batching: ``t`` prime with ``t = 1 (mod 2N)`` so plaintexts split into N slots."""

from __future__ import annotations

from ..errors import ConfigError

# Deterministic Miller-Rabin bases: exact for every n < 3.3 * 10**24 (far above 2**64).
_WITNESSES = (2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37, 41)


def is_prime(n: int) -> bool:
    """Exact primality for n < 3.3e24 (deterministic Miller-Rabin)."""
    if n < 2:
        return False
    for p in _WITNESSES:
        if n % p == 0:
            return n == p
    d, s = n - 1, 0
    while d % 2 == 0:
        d //= 2
        s += 1
    for a in _WITNESSES:
        x = pow(a, d, n)
        if x in (1, n - 1):
            continue
        for _ in range(s - 1):
            x = x * x % n
            if x == n - 1:
                break
        else:
            return False
    return True


def batching_prime_above(bound: int, poly_modulus_degree: int, max_bits: int = 60) -> int:
    """The smallest prime ``t > bound`` with ``t = 1 (mod 2 * poly_modulus_degree)``.

    Raises :class:`ConfigError` if no such prime has at most ``max_bits`` bits (SEAL's limit).
    """
    step = 2 * poly_modulus_degree
    t = (bound // step + 1) * step + 1  # smallest candidate > bound with t = 1 (mod step)
    while t.bit_length() <= max_bits:
        if is_prime(t):
            return t
        t += step
    raise ConfigError(
        f"no {max_bits}-bit batching prime exceeds {bound}: lower max_clients or quantization_range"
    )
