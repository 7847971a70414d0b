"""The C ABI (libsecagg + secagg.h), loaded with cffi in ABI mode, against the pybind11 path."""

from __future__ import annotations

import os
import re

import numpy as np
import pytest

import secagg
from secagg.core.clib import header_path, library_path

cffi = pytest.importorskip("cffi")


def cdef_from_header(text: str) -> str:
    """The header minus preprocessor lines and the C++-only blocks; keeps integer #defines."""
    out, skip = [], 0
    for line in text.splitlines():
        s = line.strip()
        if s.startswith("#ifdef __cplusplus"):
            skip += 1
            continue
        if skip and s.startswith("#endif"):
            skip -= 1
            continue
        if skip:
            continue
        if s.startswith("#define SECAGG_") and re.match(r"#define SECAGG_\w+ \d+", s):
            out.append(" ".join(s.split()[:3]))
        elif not s.startswith("#"):
            out.append(line)
    return "\n".join(out)


@pytest.fixture(scope="module")
def lib():
    ffi = cffi.FFI()
    ffi.cdef(cdef_from_header(header_path().read_text()))
    return ffi, ffi.dlopen(str(library_path()))


def ptr(ffi, ctype, arr):
    return ffi.cast(ctype, arr.ctypes.data) if arr is not None else ffi.NULL


def test_version_and_strerror(lib):
    ffi, c = lib
    assert ffi.string(c.secagg_version()).decode() == secagg.__version__
    for code in range(0, 10):
        assert len(ffi.string(c.secagg_strerror(code))) > 5
    assert ffi.string(c.secagg_strerror(1234)) == b"unknown error code"
    assert ffi.string(c.secagg_prg_backend()).decode() == secagg.prg_backend()


@pytest.mark.parametrize("modulus", [2**32, 2**12, 1_000_003, 2**40, 2**64, 3 * 2**40])
def test_prg_expand_identical(lib, modulus):
    ffi, c = lib
    seed = os.urandom(32)
    n = 5003
    wide = modulus > 2**32
    out = np.zeros(n, np.uint64 if wide else np.uint32)
    cmod = 0 if modulus == 2**64 else modulus
    if wide:
        rc = c.secagg_prg_expand_u64(seed, cmod, ptr(ffi, "uint64_t *", out), n, 0)
    else:
        rc = c.secagg_prg_expand_u32(seed, cmod, ptr(ffi, "uint32_t *", out), n, 0)
    assert rc == c.SECAGG_OK
    np.testing.assert_array_equal(out, secagg.prg_expand(seed, n, modulus_range=modulus))


def call_qm(ffi, c, x, *, modulus, qrange=2**10, clip=2.0, self_seed=b"s" * 32, peers=(),
            signs=(), rounding=b"r" * 32, out=None, threads=0):
    n = x.size
    wide = modulus > 2**32
    if out is None:
        out = np.zeros(n, np.uint64 if wide else np.uint32)
    f32 = ptr(ffi, "float *", x) if x.dtype == np.float32 else ffi.NULL
    f64 = ptr(ffi, "double *", x) if x.dtype == np.float64 else ffi.NULL
    o32 = ptr(ffi, "uint32_t *", out) if out.dtype == np.uint32 else ffi.NULL
    o64 = ptr(ffi, "uint64_t *", out) if out.dtype == np.uint64 else ffi.NULL
    sign_arr = np.asarray(signs, dtype=np.int8)
    rc = c.secagg_quantize_and_mask(
        f32, f64, n, clip, qrange, 0 if modulus == 2**64 else modulus,
        self_seed if self_seed is not None else ffi.NULL, b"".join(peers) if peers else ffi.NULL,
        ptr(ffi, "int8_t *", sign_arr) if len(signs) else ffi.NULL, len(peers),
        rounding if rounding is not None else ffi.NULL, o32, o64, threads)
    return rc, out


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("modulus", [2**32, 2**16, 65_537, 2**48, 2**64])
@pytest.mark.parametrize("with_self", [True, False])
def test_quantize_and_mask_identical(lib, dtype, modulus, with_self):
    ffi, c = lib
    x = np.random.default_rng(3).normal(size=20_011).astype(dtype)
    peers = [os.urandom(32) for _ in range(4)]
    signs = [1, -1, -1, 1]
    self_seed = os.urandom(32) if with_self else None
    rounding = os.urandom(32)
    qrange = min(2**10, modulus)
    rc, out = call_qm(ffi, c, x, modulus=modulus, qrange=qrange, self_seed=self_seed, peers=peers,
                      signs=signs, rounding=rounding)
    assert rc == c.SECAGG_OK, ffi.string(c.secagg_strerror(rc))
    want = secagg.quantize_and_mask(x, clipping_range=2.0, quantization_range=qrange,
                                    modulus_range=modulus, self_seed=self_seed, peer_seeds=peers,
                                    peer_signs=signs, rounding_seed=rounding)
    np.testing.assert_array_equal(out, want)


def test_error_codes(lib):
    ffi, c = lib
    x = np.zeros(100, np.float32)
    assert call_qm(ffi, c, x, modulus=2**32, peers=[bytes(32)], signs=[2])[0] == c.SECAGG_ERR_SEED
    assert call_qm(ffi, c, x, modulus=2**32, rounding=None)[0] == c.SECAGG_ERR_NULL_POINTER
    assert call_qm(ffi, c, x, modulus=1)[0] == c.SECAGG_ERR_MODULUS
    assert call_qm(ffi, c, x, modulus=2**62 + 1)[0] == c.SECAGG_ERR_MODULUS
    assert call_qm(ffi, c, x, modulus=2**8, qrange=2**10)[0] == c.SECAGG_ERR_MODULUS
    assert call_qm(ffi, c, x, modulus=2**32, clip=0.0)[0] == c.SECAGG_ERR_CONFIG
    assert call_qm(ffi, c, x, modulus=2**32, qrange=1)[0] == c.SECAGG_ERR_CONFIG
    assert call_qm(ffi, c, x, modulus=2**32, out=np.zeros(100, np.uint64))[0] == c.SECAGG_ERR_DTYPE
    bad = x.copy()
    bad[57] = np.nan
    assert call_qm(ffi, c, bad, modulus=2**32)[0] == c.SECAGG_ERR_NON_FINITE
    out = np.zeros(10, np.uint32)
    assert c.secagg_prg_expand_u32(ffi.NULL, 2**32, ptr(ffi, "uint32_t *", out), 10, 0) == \
        c.SECAGG_ERR_NULL_POINTER
    assert c.secagg_prg_expand_u32(bytes(32), 2**40, ptr(ffi, "uint32_t *", out), 10, 0) == \
        c.SECAGG_ERR_DTYPE
    assert c.secagg_prg_expand_u64(bytes(32), 2**32, ffi.cast("uint64_t *", 0), 0, 0) == \
        c.SECAGG_ERR_DTYPE
