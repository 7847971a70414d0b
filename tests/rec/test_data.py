"""Loaders: MovieLens formats, generic CSV, dense id remapping, errors naming file and line."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from secagg.errors import DataError
from secagg.rec.data import (
    UserItems,
    from_arrays,
    load_csv,
    load_ml100k,
    load_path,
    load_ratings_csv,
    load_ratings_dat,
)
from secagg.rec.datasets import load_dataset


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_ml100k_format_remaps_ids(tmp_path):
    path = write(tmp_path, "u.data", "10\t5\t3\t100\n7\t5\t4\t90\n10\t99\t1\t80\n")
    data = load_ml100k(tmp_path)
    assert data.n_users == 2 and data.n_items == 2 and len(data) == 3
    assert list(data.user_labels) == [7, 10] and list(data.item_labels) == [5, 99]
    assert list(data.users) == [1, 0, 1] and list(data.items) == [0, 0, 1]
    assert list(data.timestamps) == [100, 90, 80]
    assert data.source == str(path)


def test_ratings_dat_double_colon(tmp_path):
    write(tmp_path, "ratings.dat", "1::1193::5::978300760\n1::661::3::978302109\n2::1193::4::978298413\n")
    data = load_ratings_dat(tmp_path)
    assert (data.n_users, data.n_items, len(data)) == (2, 2, 3)
    np.testing.assert_array_equal(data.ratings, [5, 3, 4])


def test_ratings_csv_with_header(tmp_path):
    write(tmp_path, "ratings.csv", "userId,movieId,rating,timestamp\n1,31,2.5,1260759144\n1,1029,3.0,1260759179\n")
    data = load_ratings_csv(tmp_path)
    assert (data.n_users, data.n_items) == (1, 2)
    np.testing.assert_array_equal(data.ratings, [2.5, 3.0])


def test_generic_csv_string_ids_and_no_timestamp(tmp_path):
    path = write(tmp_path, "events.csv", "user,item,rating\nalice,tt01,5\nbob,tt02,1\nalice,tt02,2\n")
    data = load_csv(path)
    assert list(data.user_labels) == ["alice", "bob"] and list(data.item_labels) == ["tt01", "tt02"]
    assert list(data.timestamps) == [0, 0, 0]
    assert load_path(path).n_items == 2


@pytest.mark.parametrize("text, line, fragment", [
    ("1\t2\t3\t4\n1\t2\n", 2, "expected 3 or 4 fields"),
    ("1\t2\t3\t4\n5\t6\tfive\t7\n", 2, "not a number"),
    ("1\t2\t3\t4\n1\t2\t3\t4\n1\t2\t3\tyesterday\n", 3, "timestamp"),
    ("1\t2\t3\t4\nx\t2\t3\t4\n", 2, "integers"),
    ("1\t2\tnan\t4\n", 1, "not finite"),
])
def test_malformed_lines_name_file_and_line(tmp_path, text, line, fragment):
    path = write(tmp_path, "u.data", text)
    with pytest.raises(DataError, match=fragment) as info:
        load_ml100k(path)
    assert f"{path}:{line}:" in str(info.value)


def test_malformed_csv_line(tmp_path):
    path = write(tmp_path, "r.csv", "u,i,r\na,b,1\nc,d\n")
    with pytest.raises(DataError, match=rf"{path}:3: expected 3 or 4 fields"):
        load_csv(path)


def test_missing_and_empty_files(tmp_path):
    with pytest.raises(DataError, match="not found"):
        load_ml100k(tmp_path / "nope.data")
    with pytest.raises(DataError, match="empty"):
        load_csv(write(tmp_path, "empty.csv", ""))
    with pytest.raises(DataError, match="no such file"):
        load_dataset(str(tmp_path / "missing.csv"))


def test_user_items_from_pairs_dedupes_and_sorts():
    ui = UserItems.from_pairs(np.array([1, 0, 1, 1]), np.array([3, 2, 0, 3]), 3, 4)
    assert ui.n_users == 3 and ui.nnz == 3
    assert list(ui.items_of(1)) == [0, 3] and list(ui.items_of(2)) == []
    np.testing.assert_array_equal(ui.item_counts(), [1, 0, 1, 1])


def test_from_arrays_rejects_mismatch():
    with pytest.raises(DataError):
        from_arrays(np.array([1, 2]), np.array([1]))


def test_real_ml100k(ml100k):
    data = load_ml100k(ml100k)
    assert (data.n_users, data.n_items, len(data)) == (943, 1682, 100_000)
    assert load_dataset(str(ml100k)).n_users == 943
