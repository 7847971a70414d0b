"""The client and server halves of the distributed Skellam mechanism for one round.

Client (:meth:`RoundCodec.encode`): clip to L2 norm c, rotate (shared randomized Hadamard), scale
by s, conditional randomized rounding, add Skellam(local variance) noise, reduce mod 2^bits.
Server (:meth:`RoundCodec.decode`): take the sum mod 2^bits, map it to the signed range, divide
by s, rotate back and drop the padding: the float64 noisy sum of the clipped updates.

The noise and rounding seed of each client is its own secret (fresh ``os.urandom`` by default);
the rotation seed of the round is public (both sides derive it).
"""

from __future__ import annotations

import numpy as np

from ..errors import ShapeError
from . import randomness
from .params import DPParameters
from .rotation import RandomizedHadamard
from .rounding import conditional_randomized_round
from .skellam import sample_skellam


def clip_l2(update: np.ndarray, clip_norm: float) -> np.ndarray:
    """``update`` scaled down (never up) to L2 norm at most ``clip_norm``, as float64."""
    x = np.asarray(update, dtype=np.float64)
    norm = float(np.linalg.norm(x))
    return x * (clip_norm / norm) if norm > clip_norm else x.copy()


def to_signed(residues: np.ndarray, bits: int) -> np.ndarray:
    """Residues mod 2^bits -> int64 in [-2^(bits-1), 2^(bits-1))."""
    r = np.asarray(residues).astype(np.uint64)
    if bits < 64:
        r = r & np.uint64((1 << bits) - 1)
        half = np.uint64(1 << (bits - 1))
        return r.astype(np.int64) - np.where(r >= half, np.int64(1 << (bits - 1)) * 2, 0)
    return r.view(np.int64)


def to_residues(values: np.ndarray, bits: int) -> np.ndarray:
    """int64 values -> residues mod 2^bits (uint32 when bits <= 32, else uint64)."""
    r = np.asarray(values, dtype=np.int64).view(np.uint64)
    if bits < 64:
        r = r & np.uint64((1 << bits) - 1)
    return r.astype(np.uint32) if bits <= 32 else r


class RoundCodec:
    """Encode client updates and decode their sum for one round of the mechanism."""

    def __init__(self, params: DPParameters, round_seed: bytes) -> None:
        self.params = params
        self.rotation = RandomizedHadamard(params.dim, round_seed)

    def prepare(self, update: np.ndarray, seed: bytes) -> np.ndarray:
        """Clip, rotate, scale and round: the client's int64 vector of length ``padded_dim``."""
        p = self.params
        x = np.asarray(update)
        if x.shape != (p.dim,):
            raise ShapeError(f"update has shape {x.shape}; the DP mechanism was set up for ({p.dim},)")
        scaled = self.rotation.forward(clip_l2(x, p.clip_norm)) * p.scale
        rounded, _ = conditional_randomized_round(scaled, randomness.sub_seed(seed, b"rounding"),
                                                  p.l2_sensitivity)
        return rounded

    def noise(self, seed: bytes) -> np.ndarray:
        """The client's Skellam noise (int64, length ``padded_dim``)."""
        return sample_skellam(randomness.sub_seed(seed, b"noise"), self.params.padded_dim,
                              self.params.local_variance)

    def encode(self, update: np.ndarray, seed: bytes) -> np.ndarray:
        """The residues mod 2^bits a client hands to secure aggregation."""
        return to_residues(self.prepare(update, seed) + self.noise(seed), self.params.bits)

    def decode(self, residue_sum: np.ndarray) -> np.ndarray:
        """The float64 noisy sum of the clipped updates (length ``dim``)."""
        p = self.params
        s = np.asarray(residue_sum)
        if s.shape != (p.padded_dim,):
            raise ShapeError(f"sum has shape {s.shape}; expected ({p.padded_dim},)")
        return self.rotation.inverse(to_signed(s, p.bits).astype(np.float64) / p.scale)


def round_seed(session_seed: bytes, round_index: int) -> bytes:
    """The public rotation seed of a round."""
    return randomness.sub_seed(session_seed, b"round", int(round_index))


def upload_bytes(params: DPParameters) -> int:
    """Bytes of one client's vector on the wire (32-bit words when bits <= 32, else 64-bit)."""
    return params.padded_dim * (4 if params.bits <= 32 else 8)


def expected_error_variance(params: DPParameters, contributors: int) -> float:
    """Per-coordinate variance of (decoded sum - clipped sum) from noise alone, update units."""
    return contributors * params.local_variance / (params.scale ** 2)


__all__ = ["RoundCodec", "clip_l2", "expected_error_variance", "round_seed", "to_residues",
           "to_signed", "upload_bytes"]
