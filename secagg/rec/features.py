"""Public item features: MovieLens 100K genres (``u.item``), aligned with an interaction set's items.

Genres are public metadata of the catalogue (not user data), so using them costs no privacy.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import DataError
from .data import Interactions

ML100K_GENRES = 19


def load_ml100k_genres(path: str | Path, data: Interactions) -> np.ndarray:
    """``(data.n_items, 19)`` 0/1 genre flags from ``u.item`` (``path``: the file or its directory),
    row i for the item labelled ``data.item_labels[i]``. Raises :class:`DataError` if the file is
    missing or malformed, or lacks an item of ``data``."""
    path = Path(path)
    if path.is_dir():
        path = path / "u.item"
    if not path.is_file():
        raise DataError(f"{path}: file not found (MovieLens 100K's item list with genres)")
    genres: dict[int, np.ndarray] = {}
    for lineno, line in enumerate(path.read_text(encoding="latin-1").splitlines(), 1):
        if not line.strip():
            continue
        fields = line.split("|")
        if len(fields) != 5 + ML100K_GENRES:
            raise DataError(f"{path}:{lineno}: expected {5 + ML100K_GENRES} '|'-separated fields, got {len(fields)}")
        try:
            genres[int(fields[0])] = np.array([int(v) for v in fields[5:]], dtype=np.float64)
        except ValueError:
            raise DataError(f"{path}:{lineno}: item id and genre flags must be integers") from None
    missing = [int(label) for label in data.item_labels if int(label) not in genres]
    if missing:
        raise DataError(f"{path}: no genres for {len(missing)} item(s) of the data, e.g. {missing[:3]}")
    return np.stack([genres[int(label)] for label in data.item_labels])


def locate_item_file(data: Interactions) -> Path | None:
    """The ``u.item`` beside the data's ``u.data`` (None when the data came from elsewhere)."""
    if not data.source:
        return None
    candidate = Path(data.source).parent / "u.item"
    return candidate if candidate.is_file() else None
