"""Bit-packing of masked vectors at the modulus' bit width (as fcp's SecAggVector does).

A vector of d residues mod 2^b travels as ceil(d * b / 8) bytes: value i occupies bits
[i*b, (i+1)*b) of a little-endian bit stream. Packing works on groups of 8 values (exactly b
bytes per group), so each of the 8 lanes is one strided, vectorised numpy operation.

:func:`pack`, :func:`unpack` and :func:`unpack_into` run the native kernels of
``src_cpp/packing.cpp``; the numpy functions (``pack_reference``, :func:`unpack_lanes`) are kept
as the reference the tests compare them with, bit for bit.
"""

from __future__ import annotations

import numpy as np

from .. import _core
from .._validate import check_int
from ..core.prg import MAX_VECTOR_ELEMENTS
from ..errors import DTypeError, InvalidMessageError, ShapeError

MAX_BITS = 64


def packed_size(length: int, bits: int) -> int:
    """Bytes used by ``length`` values of ``bits`` bits."""
    return (length * bits + 7) // 8


def _lane_view(buf: np.ndarray, offset: int, rows: int, stride: int) -> np.ndarray:
    """An (unaligned) little-endian uint64 view of 8 bytes at ``offset + r * stride``."""
    return np.ndarray((rows,), dtype="<u8", buffer=buf, offset=offset, strides=(stride,))


def _check_bits(bits: int) -> int:
    return check_int("bit width", bits, lo=1, hi=MAX_BITS, error=ShapeError)


def pack(values: np.ndarray, bits: int) -> bytes:
    """Pack unsigned values, each < 2**bits, into the bit stream described above (native).

    Raises :class:`~secagg.errors.InputError` if a value does not fit in ``bits`` bits.
    """
    b = _check_bits(bits)
    arr = np.asarray(values)
    if arr.dtype.kind != "u" or arr.ndim != 1:
        raise DTypeError(f"pack needs a 1-D unsigned array, got {arr.dtype} of shape {arr.shape}")
    if arr.dtype not in (np.uint32, np.uint64):
        arr = arr.astype(np.uint64)  # uint8 / uint16: widening is exact
    return _core.pack_bits(np.ascontiguousarray(arr), b)


def pack_reference(values: np.ndarray, bits: int) -> bytes:
    """The numpy implementation of :func:`pack` (reference for tests; no range check)."""
    if not 1 <= bits <= MAX_BITS:
        raise ShapeError(f"bit width must be in [1, {MAX_BITS}], got {bits}")
    arr = np.asarray(values)
    if arr.dtype.kind != "u" or arr.ndim != 1:
        raise DTypeError(f"pack needs a 1-D unsigned array, got {arr.dtype} of shape {arr.shape}")
    d = arr.shape[0]
    if d == 0:
        return b""
    rows = (d + 7) // 8
    lanes = np.zeros(rows * 8, dtype=np.uint64)
    lanes[:d] = arr
    lanes = lanes.reshape(rows, 8)
    stride = bits + 9  # b bytes per group, plus slack so every 8-byte lane view stays in bounds
    buf = np.zeros(rows * stride + 16, dtype=np.uint8)
    for j in range(8):
        start, shift = divmod(j * bits, 8)
        col = lanes[:, j]
        view = _lane_view(buf, start, rows, stride)
        view |= col << np.uint64(shift)
        if shift and shift + bits > 64:  # spills into a 9th byte
            spill = _lane_view(buf, start + 8, rows, stride)
            spill |= col >> np.uint64(64 - shift)
    out = buf[: rows * stride].reshape(rows, stride)[:, :bits].tobytes()
    return out[: packed_size(d, bits)]


def _padded(data: bytes, length: int, bits: int) -> np.ndarray:
    """Validate ``data``; return it as uint8 with zero bytes appended so that every 8-byte lane
    read of the last (partial) group stays in bounds."""
    if not 1 <= bits <= MAX_BITS:
        raise ShapeError(f"bit width must be in [1, {MAX_BITS}], got {bits}")
    expected = packed_size(length, bits)
    if len(data) != expected:
        raise InvalidMessageError(f"packed vector has {len(data)} bytes; {length} values of "
                                  f"{bits} bits need exactly {expected}")
    raw = np.frombuffer(data, dtype=np.uint8)
    if bits * length % 8 and raw[-1] >> (bits * length % 8):
        raise InvalidMessageError("packed vector has non-zero padding bits")
    buf = np.zeros(len(raw) + bits + 16, dtype=np.uint8)
    buf[: len(raw)] = raw
    return buf


def unpack_lanes(data: bytes, length: int, bits: int, out: np.ndarray | None = None,
                 add: bool = False) -> np.ndarray:
    """Unpack into *lane-major* layout: a (8, ceil(length/8)) uint64 array whose ``[j, r]`` is
    value ``8r + j``. With ``add=True`` the values are added into ``out`` (wrapping mod 2**64),
    which is how the server accumulates masked vectors without an extra pass."""
    rows = (length + 7) // 8
    if out is None:
        out = np.zeros((8, rows), dtype=np.uint64)
    elif out.shape != (8, rows) or out.dtype != np.uint64:
        raise ShapeError(f"accumulator must be uint64 of shape (8, {rows})")
    buf = _padded(data, length, bits)
    if not rows:
        return out
    mask = np.uint64((1 << bits) - 1) if bits < 64 else np.uint64(0xFFFFFFFFFFFFFFFF)
    tmp = np.empty(rows, dtype=np.uint64)
    for j in range(8):  # group r of 8 values starts at byte r * bits
        start, shift = divmod(j * bits, 8)
        np.right_shift(_lane_view(buf, start, rows, bits), np.uint64(shift), out=tmp)
        if shift and shift + bits > 64:
            tmp |= _lane_view(buf, start + 8, rows, bits) << np.uint64(64 - shift)
        tmp &= mask
        if add:
            out[j] += tmp
        else:
            out[j] = tmp
    return out


def lanes_to_vector(lanes: np.ndarray, length: int) -> np.ndarray:
    """Lane-major (8, rows) back to the flat vector of ``length`` values."""
    return np.ascontiguousarray(lanes.T).reshape(-1)[:length]


def _check_data(data: bytes, length: int, bits: int) -> None:
    """Byte count and zero padding bits, as :func:`_padded` checks them (without the copy)."""
    if type(data) is not bytes:
        raise InvalidMessageError(f"a packed vector must be bytes, got {type(data).__name__}")
    expected = packed_size(length, bits)
    if len(data) != expected:
        raise InvalidMessageError(f"packed vector has {len(data)} bytes; {length} values of "
                                  f"{bits} bits need exactly {expected}")
    if bits * length % 8 and data[-1] >> (bits * length % 8):
        raise InvalidMessageError("packed vector has non-zero padding bits")


def unpack_into(data: bytes, length: int, bits: int, out: np.ndarray, add: bool = False) -> np.ndarray:
    """Unpack into the flat uint64 vector ``out`` (native, one pass), or with ``add=True`` add
    the values into it (wrapping mod 2**64): the server's running sum of masked vectors."""
    b = _check_bits(bits)
    if not isinstance(out, np.ndarray) or out.dtype != np.uint64 or out.shape != (length,) \
            or not out.flags.c_contiguous or not out.flags.writeable:
        raise ShapeError(f"out must be a writeable, contiguous uint64 vector of length {length}")
    _check_data(data, length, b)
    _core.unpack_bits(data, length, b, out, add)
    return out


def unpack(data: bytes, length: int, bits: int) -> np.ndarray:
    """Inverse of :func:`pack`: ``length`` uint64 values; strict about the byte count."""
    n = check_int("length", length, lo=0, hi=MAX_VECTOR_ELEMENTS, error=ShapeError)
    return unpack_into(data, n, bits, np.empty(n, dtype=np.uint64))


def unpack_reference(data: bytes, length: int, bits: int) -> np.ndarray:
    """The numpy implementation of :func:`unpack` (reference for tests)."""
    if length == 0:
        if len(data):
            raise InvalidMessageError("packed vector of length 0 must be empty")
        return np.empty(0, dtype=np.uint64)
    return lanes_to_vector(unpack_lanes(data, length, bits), length)
