"""Bit-packing at the modulus' bit width."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from secagg.errors import InvalidMessageError
from secagg.protocol.packing import pack, packed_size, unpack, unpack_lanes


@given(bits=st.integers(1, 64), length=st.integers(0, 70), seed=st.integers(0, 2**32))
def test_round_trip_and_size(bits, length, seed):
    rng = np.random.default_rng(seed)
    hi = 2**bits if bits < 64 else 2**64
    values = np.array([int(x) % hi for x in rng.integers(0, 2**63, length)], dtype=np.uint64)
    if length:
        values[0] = hi - 1
    data = pack(values, bits)
    assert len(data) == packed_size(length, bits) == (length * bits + 7) // 8
    np.testing.assert_array_equal(unpack(data, length, bits), values)


@given(bits=st.integers(1, 40), length=st.integers(1, 30), seed=st.integers(0, 2**32))
def test_layout_is_a_little_endian_bit_stream(bits, length, seed):
    values = np.random.default_rng(seed).integers(0, 2**bits, length, dtype=np.uint64)
    stream = sum(int(v) << (i * bits) for i, v in enumerate(values))
    assert pack(values, bits) == stream.to_bytes(packed_size(length, bits), "little")


def test_26_bit_values_cost_26_bits():
    assert len(pack(np.zeros(10**5, dtype=np.uint32), 26)) == 10**5 * 26 // 8


def test_strict_unpacking():
    data = pack(np.arange(10, dtype=np.uint64), 5)
    with pytest.raises(InvalidMessageError):
        unpack(data[:-1], 10, 5)
    with pytest.raises(InvalidMessageError):
        unpack(data + b"\x00", 10, 5)
    with pytest.raises(InvalidMessageError, match="padding"):
        unpack(data[:-1] + bytes([data[-1] | 0x80]), 10, 5)


def test_lane_accumulation_matches_sum():
    rng = np.random.default_rng(1)
    vs = [rng.integers(0, 2**26, 1001, dtype=np.uint64) for _ in range(5)]
    acc = None
    for v in vs:
        acc = unpack_lanes(pack(v, 26), 1001, 26, out=acc, add=acc is not None)
    total = np.ascontiguousarray(acc.T).reshape(-1)[:1001]
    np.testing.assert_array_equal(total, np.sum(vs, axis=0))
