"""Batching: a long vector travels as ceil(d / slots) ciphertexts, every slot used but the tail."""

from __future__ import annotations

import numpy as np

from ..errors import ShapeError


def chunk_lengths(dim: int, slots: int) -> list[int]:
    """Length of each chunk: ``slots`` for all but the last, which holds the rest."""
    full, rest = divmod(dim, slots)
    return [slots] * full + ([rest] if rest else [])


def split(values: np.ndarray, slots: int) -> list[np.ndarray]:
    """Cut a 1-D array into consecutive chunks of at most ``slots`` values (views, no copy)."""
    return [values[i:i + slots] for i in range(0, values.shape[0], slots)]


def join(chunks: list[np.ndarray], dim: int, dtype: np.dtype | type = np.float64) -> np.ndarray:
    """Concatenate decrypted chunks and check they make exactly ``dim`` values."""
    out = np.concatenate(chunks) if chunks else np.empty(0, dtype=dtype)
    if out.shape[0] != dim:
        raise ShapeError(f"decrypted {out.shape[0]} values, expected {dim}")
    return out
