"""Model versions on the wire and on disk: a float32 vector with its shape and a content hash."""

from __future__ import annotations

import hashlib
import io
import struct
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import CheckpointError, InputError
from ..rec.model import DTYPE, ItemModel


def model_hash(n_items: int, factors: int, vector: np.ndarray) -> str:
    """SHA-256 (hex) over ``n_items``, ``factors`` and the little-endian float32 vector."""
    data = np.ascontiguousarray(vector, dtype="<f4").tobytes()
    return hashlib.sha256(struct.pack("<II", n_items, factors) + data).hexdigest()


@dataclass(frozen=True)
class ModelVersion:
    """One published global model. ``version`` increases with every publication (a rollback
    republishes old content under a new version); ``round`` is the round that produced it."""

    version: int
    round: int
    n_items: int
    factors: int
    vector: np.ndarray
    hash: str

    @staticmethod
    def of(version: int, round_: int, model: ItemModel) -> ModelVersion:
        vec = model.to_vector().astype(DTYPE)
        return ModelVersion(version, round_, model.n_items, model.n_factors, vec,
                            model_hash(model.n_items, model.n_factors, vec))

    def to_model(self) -> ItemModel:
        k = self.n_items * self.factors
        return ItemModel(self.vector[:k].reshape(self.n_items, self.factors).copy(),
                         self.vector[k:].copy(), version=self.version)

    @staticmethod
    def from_wire(version: int, round_: int, n_items: int, factors: int, data: bytes,
                  expected_hash: str) -> ModelVersion:
        """Rebuild a received model; :class:`InputError` if its size or hash is wrong."""
        if n_items < 1 or factors < 1 or len(data) != 4 * n_items * (factors + 1):
            raise InputError(f"model of {n_items} items x {factors} factors cannot have "
                             f"{len(data)} bytes")
        vec = np.frombuffer(data, dtype="<f4").astype(DTYPE)
        digest = model_hash(n_items, factors, vec)
        if digest != expected_hash:
            raise InputError("model content does not match its hash (corrupted or substituted)")
        return ModelVersion(version, round_, n_items, factors, vec, digest)


def pack_arrays(state: dict[str, Any]) -> bytes:
    """An optimiser state dict as ``.npz`` bytes (arrays) with scalars kept as 0-d arrays."""
    buf = io.BytesIO()
    np.savez(buf, **{k: np.asarray(v) for k, v in state.items()})
    return buf.getvalue()


def unpack_arrays(blob: bytes) -> dict[str, Any]:
    try:
        with np.load(io.BytesIO(blob), allow_pickle=False) as npz:
            out: dict[str, Any] = {}
            for k in npz.files:
                a = npz[k]
                out[k] = a.item() if a.ndim == 0 else a
            return out
    except (OSError, ValueError) as exc:
        raise CheckpointError(f"corrupt optimiser state in the database ({exc})") from None
