"""Resolve a data-set name or path (``synthetic``, ``ml-100k``, a file or directory) to interactions."""

from __future__ import annotations

import os
from pathlib import Path

from ..errors import DataError
from .data import Interactions, load_ml100k, load_path
from .download import ARCHIVES, default_cache_dir
from .synthetic import make_synthetic

ML100K_ENV = "SECAGG_ML100K"


def ml100k_candidates(*extra: str | Path) -> list[Path]:
    """Where MovieLens 100K is looked for, in order: ``$SECAGG_ML100K``, then ``extra``
    directories (e.g. a test suite's copy), then the download cache."""
    out = []
    if os.environ.get(ML100K_ENV):
        out.append(Path(os.environ[ML100K_ENV]))
    out.extend(Path(p) for p in extra)
    out.append(default_cache_dir() / "ml-100k")
    return out


def locate_ml100k(*extra: str | Path) -> Path | None:
    """The first directory holding ``u.data`` among :func:`ml100k_candidates`, or None."""
    for cand in ml100k_candidates(*extra):
        if (cand / "u.data").is_file():
            return cand.resolve()
        if cand.name == "u.data" and cand.is_file():
            return cand.parent.resolve()
    return None


def load_dataset(spec: str, *, seed: int = 0) -> Interactions:
    """``synthetic`` (built in), ``ml-100k`` (located or downloaded earlier), or a path to a file/dir."""
    if spec == "synthetic":
        return make_synthetic(seed=seed)
    if spec == "ml-100k":
        found = locate_ml100k()
        if found is None:
            places = ", ".join(str(p) for p in ml100k_candidates())
            raise DataError(f"MovieLens 100K not found (looked in {places}); run `secagg download ml-100k` "
                            f"or set {ML100K_ENV} to the directory holding u.data")
        return load_ml100k(found)
    if spec in ARCHIVES:
        ratings = default_cache_dir() / ARCHIVES[spec].ratings
        if not ratings.is_file():
            raise DataError(f"{spec} is not in the cache ({ratings}); run `secagg download {spec}` first")
        return load_path(ratings)
    path = Path(spec)
    if not path.exists():
        raise DataError(f"{spec}: no such file or directory (and not one of synthetic, ml-100k)")
    return load_path(path)
