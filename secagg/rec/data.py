"""Interaction data: the containers and the loaders for MovieLens formats and generic CSV files.

Every loader returns :class:`Interactions` with user and item ids remapped to dense indices
``0..n-1`` (the original labels are kept). Malformed input raises :class:`DataError` naming the
file and the 1-based line number.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import DataError


@dataclass(frozen=True)
class Interactions:
    """Implicit-feedback events: one row per (user, item) interaction, ids already dense."""

    users: np.ndarray  # int64, in [0, n_users)
    items: np.ndarray  # int64, in [0, n_items)
    ratings: np.ndarray  # float32, the explicit rating (kept for reference; any rating counts)
    timestamps: np.ndarray  # int64
    user_labels: np.ndarray  # original user id of each dense index
    item_labels: np.ndarray  # original item id of each dense index
    source: str = ""

    @property
    def n_users(self) -> int:
        return int(len(self.user_labels))

    @property
    def n_items(self) -> int:
        return int(len(self.item_labels))

    def __len__(self) -> int:
        return int(len(self.users))


@dataclass(frozen=True)
class UserItems:
    """A user x item interaction set in compressed-row form (sorted item indices per user)."""

    indptr: np.ndarray  # int64, length n_users + 1
    indices: np.ndarray  # int64 item indices
    n_items: int

    @property
    def n_users(self) -> int:
        return int(len(self.indptr) - 1)

    @property
    def nnz(self) -> int:
        return int(len(self.indices))

    def items_of(self, user: int) -> np.ndarray:
        return self.indices[self.indptr[user]:self.indptr[user + 1]]

    def counts(self) -> np.ndarray:
        """Number of interactions per user."""
        return np.diff(self.indptr)

    def item_counts(self) -> np.ndarray:
        """Number of interactions per item (popularity)."""
        return np.bincount(self.indices, minlength=self.n_items)

    def user_index(self) -> np.ndarray:
        """The user index of every stored interaction (expands ``indptr``)."""
        return np.repeat(np.arange(self.n_users, dtype=np.int64), self.counts())

    @staticmethod
    def from_pairs(users: np.ndarray, items: np.ndarray, n_users: int, n_items: int) -> UserItems:
        """Build from parallel user/item index arrays (duplicates are removed)."""
        users = np.asarray(users, dtype=np.int64)
        items = np.asarray(items, dtype=np.int64)
        key = np.unique(users * n_items + items)
        u, i = key // n_items, key % n_items
        indptr = np.zeros(n_users + 1, dtype=np.int64)
        np.cumsum(np.bincount(u, minlength=n_users), out=indptr[1:])
        return UserItems(indptr=indptr, indices=i.astype(np.int64), n_items=n_items)

    @staticmethod
    def from_matrix(matrix: object) -> UserItems:
        """Build from anything with ``tocsr()`` (a scipy sparse matrix, users as rows)."""
        if not hasattr(matrix, "tocsr"):
            raise DataError("user_items must be a scipy.sparse matrix (users x items) or UserItems")
        csr = matrix.tocsr()  # type: ignore[attr-defined]
        coo = csr.tocoo()
        keep = np.asarray(coo.data) != 0
        n_users, n_items = csr.shape
        return UserItems.from_pairs(coo.row[keep], coo.col[keep], n_users, n_items)


def from_arrays(users: np.ndarray, items: np.ndarray, ratings: np.ndarray | None = None,
                timestamps: np.ndarray | None = None, *, source: str = "") -> Interactions:
    """Remap arbitrary user/item labels to dense indices and build :class:`Interactions`."""
    users = np.asarray(users)
    items = np.asarray(items)
    if users.shape != items.shape or users.ndim != 1:
        raise DataError(f"{source or 'data'}: users and items must be 1-D arrays of equal length")
    if len(users) == 0:
        raise DataError(f"{source or 'data'}: no interactions found")
    n = len(users)
    ratings = np.ones(n, np.float32) if ratings is None else np.asarray(ratings, np.float32)
    timestamps = np.zeros(n, np.int64) if timestamps is None else np.asarray(timestamps, np.int64)
    user_labels, user_idx = np.unique(users, return_inverse=True)
    item_labels, item_idx = np.unique(items, return_inverse=True)
    return Interactions(users=user_idx.astype(np.int64).ravel(), items=item_idx.astype(np.int64).ravel(),
                        ratings=ratings, timestamps=timestamps, user_labels=user_labels,
                        item_labels=item_labels, source=source)


# --- parsing --------------------------------------------------------------------------------
def _parse_rows(path: Path, rows: list[tuple[int, list[str]]], numeric_ids: bool) -> Interactions:
    users, items, ratings, stamps = [], [], [], []
    for lineno, fields in rows:
        if len(fields) not in (3, 4):
            raise DataError(f"{path}:{lineno}: expected 3 or 4 fields (user, item, rating[, timestamp]), "
                            f"got {len(fields)}")
        user, item = fields[0].strip(), fields[1].strip()
        if not user or not item:
            raise DataError(f"{path}:{lineno}: empty user or item id")
        if numeric_ids:
            try:
                user_v: object = int(user)
                item_v: object = int(item)
            except ValueError:
                raise DataError(f"{path}:{lineno}: user and item ids must be integers, got "
                                f"{user!r}, {item!r}") from None
        else:
            user_v, item_v = user, item
        try:
            rating = float(fields[2])
        except ValueError:
            raise DataError(f"{path}:{lineno}: rating {fields[2].strip()!r} is not a number") from None
        if not np.isfinite(rating):
            raise DataError(f"{path}:{lineno}: rating {fields[2].strip()!r} is not finite")
        stamp = 0
        if len(fields) == 4:
            try:
                stamp = int(fields[3])
            except ValueError:
                raise DataError(f"{path}:{lineno}: timestamp {fields[3].strip()!r} is not an integer") from None
        users.append(user_v)
        items.append(item_v)
        ratings.append(rating)
        stamps.append(stamp)
    if not users:
        raise DataError(f"{path}: no interactions found")
    return from_arrays(np.array(users), np.array(items), np.array(ratings), np.array(stamps, np.int64),
                       source=str(path))


def _read_lines(path: Path) -> list[str]:
    if not path.is_file():
        raise DataError(f"{path}: file not found")
    try:
        return path.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError:
        return path.read_text(encoding="latin-1").splitlines()


def _fast_numeric(path: Path, lines: list[str], sep: str) -> Interactions | None:
    """Parse all-numeric separated lines with numpy; None when anything is irregular."""
    try:
        table = np.loadtxt([ln.replace(sep, "\t") for ln in lines if ln.strip()], delimiter="\t",
                           dtype=np.float64, ndmin=2)
    except ValueError:
        return None
    if table.shape[1] not in (3, 4) or not np.all(np.isfinite(table)):
        return None
    ids = table[:, :2]
    if np.any(ids != np.round(ids)) or (table.shape[1] == 4 and np.any(table[:, 3] != np.round(table[:, 3]))):
        return None
    stamps = table[:, 3].astype(np.int64) if table.shape[1] == 4 else None
    return from_arrays(ids[:, 0].astype(np.int64), ids[:, 1].astype(np.int64), table[:, 2], stamps,
                       source=str(path))


def load_separated(path: str | Path, sep: str, *, skip_header: bool = False) -> Interactions:
    """Load ``user<sep>item<sep>rating[<sep>timestamp]`` lines with integer ids."""
    path = Path(path)
    lines = _read_lines(path)
    start = 1 if skip_header else 0
    body = lines[start:]
    fast = _fast_numeric(path, body, sep)
    if fast is not None:
        return fast
    rows = [(n + 1 + start, ln.split(sep)) for n, ln in enumerate(body) if ln.strip()]
    return _parse_rows(path, rows, numeric_ids=True)


def load_ml100k(path: str | Path) -> Interactions:
    """MovieLens 100K: ``u.data`` (tab-separated user, item, rating, timestamp); a dir or the file."""
    path = Path(path)
    if path.is_dir():
        path = path / "u.data"
    return load_separated(path, "\t")


def load_ratings_dat(path: str | Path) -> Interactions:
    """MovieLens 1M / 10M: ``ratings.dat`` with ``::`` separators."""
    path = Path(path)
    if path.is_dir():
        path = path / "ratings.dat"
    return load_separated(path, "::")


def load_ratings_csv(path: str | Path) -> Interactions:
    """MovieLens 20M / 25M / latest: ``ratings.csv`` (header userId,movieId,rating,timestamp)."""
    path = Path(path)
    if path.is_dir():
        path = path / "ratings.csv"
    return load_csv(path)


def load_csv(path: str | Path, *, delimiter: str = ",") -> Interactions:
    """Any CSV with columns user, item, rating[, timestamp]; a non-numeric first line is a header.

    Ids may be integers or arbitrary strings; either way they are remapped to dense indices.
    """
    path = Path(path)
    lines = _read_lines(path)
    if not lines:
        raise DataError(f"{path}: file is empty")
    first = next(csv.reader([lines[0]], delimiter=delimiter))
    has_header = len(first) >= 3 and not _is_number(first[2])
    start = 1 if has_header else 0
    fast = _fast_numeric(path, lines[start:], delimiter)
    if fast is not None:
        return fast
    rows = [(n + 1 + start, fields) for n, fields in
            enumerate(csv.reader(lines[start:], delimiter=delimiter)) if fields]
    numeric = all(_is_int(f[0]) and _is_int(f[1]) for _, f in rows if len(f) >= 2)
    return _parse_rows(path, rows, numeric_ids=numeric)


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _is_int(text: str) -> bool:
    try:
        int(text)
    except ValueError:
        return False
    return True


def load_path(path: str | Path) -> Interactions:
    """Pick the loader from the file name: u.data, ratings.dat, ratings.csv, else generic CSV/TSV."""
    path = Path(path)
    if path.is_dir():
        for name, loader in (("u.data", load_ml100k), ("ratings.dat", load_ratings_dat),
                             ("ratings.csv", load_ratings_csv)):
            if (path / name).is_file():
                return loader(path / name)
        raise DataError(f"{path}: directory holds none of u.data, ratings.dat, ratings.csv")
    if path.name == "u.data":
        return load_ml100k(path)
    if path.suffix == ".dat":
        return load_ratings_dat(path)
    if path.suffix in (".tsv", ".data"):
        return load_csv(path, delimiter="\t")
    return load_csv(path)
