"""The native packing kernels against the numpy reference: bit-identical, and as strict."""

from __future__ import annotations

import threading

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from secagg import _core
from secagg.errors import DTypeError, InputError, InvalidMessageError, ShapeError
from secagg.protocol.packing import (
    pack,
    pack_reference,
    unpack,
    unpack_into,
    unpack_lanes,
    unpack_reference,
)


def _values(bits: int, length: int, seed: int, dtype=np.uint64) -> np.ndarray:
    rng = np.random.default_rng(seed)
    v = rng.integers(0, 2**64 - 1, length, dtype=np.uint64, endpoint=True)
    if bits < 64:
        v >>= np.uint64(64 - bits)
    if length:
        v[rng.integers(0, length)] = np.uint64(2**bits - 1)  # an all-ones value somewhere
    return v.astype(dtype)


@given(bits=st.integers(1, 64), length=st.integers(0, 200), seed=st.integers(0, 2**32))
def test_pack_is_bit_identical_to_the_reference(bits, length, seed):
    v = _values(bits, length, seed)
    data = pack(v, bits)
    assert data == pack_reference(v, bits)
    if bits <= 32:
        assert pack(v.astype(np.uint32), bits) == data
        assert pack(v.astype(np.uint32), bits) == pack_reference(v.astype(np.uint32), bits)


@given(bits=st.integers(1, 64), length=st.integers(0, 200), seed=st.integers(0, 2**32))
def test_unpack_is_identical_to_the_reference(bits, length, seed):
    v = _values(bits, length, seed)
    data = pack_reference(v, bits)
    np.testing.assert_array_equal(unpack(data, length, bits), unpack_reference(data, length, bits))
    np.testing.assert_array_equal(unpack(data, length, bits), v)


@given(bits=st.integers(1, 64), length=st.integers(1, 100), count=st.integers(1, 5),
       seed=st.integers(0, 2**32))
def test_unpack_into_adds_like_the_lane_reference(bits, length, count, seed):
    vs = [_values(bits, length, seed + i) for i in range(count)]
    acc = np.empty(length, dtype=np.uint64)
    lanes = None
    for i, v in enumerate(vs):
        data = pack(v, bits)
        unpack_into(data, length, bits, acc, add=i > 0)
        lanes = unpack_lanes(data, length, bits, out=lanes, add=lanes is not None)
    expected = np.ascontiguousarray(lanes.T).reshape(-1)[:length]
    np.testing.assert_array_equal(acc, expected)
    with np.errstate(over="ignore"):
        np.testing.assert_array_equal(acc, np.sum(vs, axis=0, dtype=np.uint64))


def test_pack_refuses_values_that_do_not_fit():
    with pytest.raises(InputError, match="2\\*\\*bits"):
        pack(np.array([1, 32, 3], dtype=np.uint32), 5)
    with pytest.raises(ShapeError):
        pack(np.zeros(3, dtype=np.uint64), 65)
    with pytest.raises(DTypeError):
        pack(np.zeros(3, dtype=np.int64), 5)
    with pytest.raises(DTypeError):
        _core.pack_bits(np.zeros(3, dtype=np.uint16), 5)
    assert pack(np.array([1, 2, 3], dtype=np.uint16), 5) == pack_reference(
        np.array([1, 2, 3], dtype=np.uint16), 5)


def test_unpack_is_strict():
    data = pack(np.arange(10, dtype=np.uint64), 5)
    for bad in (data[:-1], data + b"\x00", data[:-1] + bytes([data[-1] | 0x80])):
        with pytest.raises(InvalidMessageError):
            unpack(bad, 10, 5)
    with pytest.raises(InvalidMessageError):
        unpack(bytearray(data), 10, 5)
    acc = np.arange(10, dtype=np.uint64)
    with pytest.raises(InvalidMessageError):  # a rejected vector leaves the sum untouched
        unpack_into(data[:-1], 10, 5, acc, add=True)
    np.testing.assert_array_equal(acc, np.arange(10))
    for out in (np.zeros(9, dtype=np.uint64), np.zeros(10, dtype=np.uint32),
                np.zeros(20, dtype=np.uint64)[::2]):
        with pytest.raises(ShapeError):
            unpack_into(data, 10, 5, out)
    with pytest.raises(ShapeError):  # the native layer checks the byte count on its own too
        _core.unpack_bits(data[:-1], 10, 5, np.zeros(10, dtype=np.uint64))


def test_threaded_packing_matches_serial():
    """The kernels release the GIL; concurrent calls give the serial results."""
    vs = [_values(23, 50_000, s) for s in range(4)]
    serial = [pack(v, 23) for v in vs]
    got: dict[int, bytes] = {}
    back: dict[int, np.ndarray] = {}

    def work(i: int) -> None:
        got[i] = pack(vs[i], 23)
        back[i] = unpack(got[i], 50_000, 23)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for i, v in enumerate(vs):
        assert got[i] == serial[i]
        np.testing.assert_array_equal(back[i], v)
