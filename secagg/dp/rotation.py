"""Randomized Hadamard rotation shared by all clients of a round.

``forward(x) = H D pad(x) / sqrt(d')`` and ``inverse(y) = first d of D H y / sqrt(d')``, where
``d'`` is the next power of two >= d, ``H`` the (unnormalised, +-1) Walsh-Hadamard matrix and
``D`` a diagonal of random signs from PRG(sub_seed(round_seed, b"rotation")). ``H D / sqrt(d')``
is orthogonal, so the rotation keeps L2 norms and the inverse undoes it exactly (up to float64
rounding, ~1e-15 relative). After the rotation every coordinate of a fixed vector v is a
Rademacher sum with variance ||v||^2 / d', which is what makes the modular bound in
:mod:`secagg.dp.params` hold with a small stated probability.
"""

from __future__ import annotations

import numpy as np

from ..errors import ShapeError
from . import randomness


def padded_dim(dim: int) -> int:
    """The smallest power of two >= ``dim``."""
    if dim < 1:
        raise ShapeError(f"dimension must be >= 1, got {dim}")
    return 1 << (int(dim) - 1).bit_length()


def fwht(a: np.ndarray) -> np.ndarray:
    """Unnormalised fast Walsh-Hadamard transform along the last axis (length a power of two)."""
    a = np.array(a, dtype=np.float64, copy=True)
    n = a.shape[-1]
    if n & (n - 1):
        raise ShapeError(f"Hadamard length must be a power of two, got {n}")
    lead = a.shape[:-1]
    h = 1
    while h < n:
        v = a.reshape(*lead, n // (2 * h), 2, h)
        x, y = v[..., 0, :].copy(), v[..., 1, :]
        v[..., 0, :] += y
        v[..., 1, :] = x - y
        h *= 2
    return a


class RandomizedHadamard:
    """The rotation of one round: built from the round's public seed and the update length."""

    def __init__(self, dim: int, round_seed: bytes) -> None:
        self.dim = int(dim)
        self.padded_dim = padded_dim(self.dim)
        self._signs = randomness.signs(randomness.sub_seed(round_seed, b"rotation"), self.padded_dim)
        self._norm = 1.0 / np.sqrt(self.padded_dim)

    def forward(self, x: np.ndarray) -> np.ndarray:
        """Pad the last axis to ``padded_dim`` with zeros, then rotate. Returns float64."""
        x = np.asarray(x, dtype=np.float64)
        if x.shape[-1] != self.dim:
            raise ShapeError(f"rotation built for length {self.dim}, got {x.shape[-1]}")
        padded = np.zeros(x.shape[:-1] + (self.padded_dim,), dtype=np.float64)
        padded[..., : self.dim] = x
        return fwht(padded * self._signs) * self._norm

    def inverse(self, y: np.ndarray) -> np.ndarray:
        """Undo :meth:`forward` and drop the padding."""
        y = np.asarray(y, dtype=np.float64)
        if y.shape[-1] != self.padded_dim:
            raise ShapeError(f"inverse rotation expects length {self.padded_dim}, got {y.shape[-1]}")
        return (fwht(y) * self._norm * self._signs)[..., : self.dim]
