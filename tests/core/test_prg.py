"""The AES-CTR PRG: known-answer tests, agreement with `cryptography`, backends, bad input."""

from __future__ import annotations

import os

import numpy as np
import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from hypothesis import given
from hypothesis import strategies as st

import secagg
from secagg import _core
from secagg.core import reference
from secagg.core.prg import available_backends, prg_backend, set_backend
from secagg.errors import ConfigError, ModulusError, SeedError, ShapeError

BACKENDS = available_backends()

# NIST SP 800-38A, F.5.5 CTR-AES256.Encrypt
NIST_KEY = bytes.fromhex("603deb1015ca71be2b73aef0857d77811f352c073b6108d72d9810a30914dff4")
NIST_IV = bytes.fromhex("f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff")
NIST_PT = bytes.fromhex(
    "6bc1bee22e409f96e93d7e117393172a" "ae2d8a571e03ac9c9eb76fac45af8e51"
    "30c81c46a35ce411e5fbc1191a0a52ef" "f69f2445df4f9b17ad2b417be66c3710")
NIST_CT = bytes.fromhex(
    "601ec313775789a5b7a7f504bbf3d228" "f443e3ca4d62b59aca84e990cacaf5c5"
    "2b0930daa23de94ce87017ba2d84988d" "dfc9c58db67aada613c2dd08457941a6")

# RFC 5869, appendix A, test cases 1-3 (SHA-256): ikm, salt, info, length, okm
RFC5869 = [
    (bytes([0x0B] * 22), bytes(range(0x00, 0x0D)), bytes(range(0xF0, 0xFA)), 42,
     "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865"),
    (bytes(range(0x00, 0x50)), bytes(range(0x60, 0xB0)), bytes(range(0xB0, 0x100)), 82,
     "b11e398dc80327a1c8e7f78c596a49344f012eda2d4efad8a050cc4c19afa97c"
     "59045a99cac7827271cb41c65e590e09da3275600c2f09b8367793a9aca3db71"
     "cc30c58179ec3e87c14c01d5c1f3434f1d87"),
    (bytes([0x0B] * 22), b"", b"", 42,
     "8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d9d201395faa4b61a96c8"),
]

MODULI = st.sampled_from([2, 2**8, 2**20, 2**32, 2**33, 2**48, 2**64, 3, 1000, 65537, 2**31 - 1,
                          2**32 - 5, 2**32 + 15, 3 * 2**40, 2**62])


@pytest.fixture(params=BACKENDS)
def backend(request):
    set_backend(request.param)
    yield request.param
    set_backend("auto")


def aes_ctr(key: bytes, iv: bytes, n: int) -> bytes:
    return Cipher(algorithms.AES(key), modes.CTR(iv)).encryptor().update(bytes(n))


def test_nist_sp800_38a_f55(backend):
    keystream = bytes(a ^ b for a, b in zip(NIST_PT, NIST_CT))
    assert _core.aes256_ctr(NIST_KEY, NIST_IV, 64) == keystream
    assert prg_backend() == backend


@pytest.mark.parametrize("iv_hex", ["00" * 16, "0000000000000000fffffffffffffff3", "ff" * 16,
                                    "00000000000000ffffffffffffffffff"])
@pytest.mark.parametrize("nbytes", [1, 16, 17, 255, 256, 257, 4096 + 48 + 5])
def test_ctr_matches_cryptography_incl_counter_wrap(backend, iv_hex, nbytes):
    key = bytes(range(32))
    iv = bytes.fromhex(iv_hex)
    assert _core.aes256_ctr(key, iv, nbytes) == aes_ctr(key, iv, nbytes)


@pytest.mark.parametrize("ikm, salt, info, length, okm", RFC5869)
def test_hkdf_rfc5869(ikm, salt, info, length, okm):
    assert _core.hkdf_sha256(ikm, salt or None, info, length).hex() == okm


@given(st.binary(max_size=200), st.one_of(st.none(), st.binary(min_size=1, max_size=100)),
       st.binary(max_size=100), st.integers(1, 300))
def test_hkdf_matches_cryptography(ikm, salt, info, length):
    expected = HKDF(algorithm=hashes.SHA256(), length=length, salt=salt, info=info).derive(ikm)
    assert _core.hkdf_sha256(ikm, salt, info, length) == expected


def test_prg_key_is_hkdf_of_seed():
    seed = os.urandom(32)
    assert _core.derive_prg_key(seed) == reference.prg_key(seed)


def test_prg_keystream_equals_cryptography_for_derived_key(backend):
    seed = os.urandom(32)
    key = reference.prg_key(seed)
    words = np.frombuffer(aes_ctr(key, bytes(16), 4 * 5000), dtype="<u4")
    np.testing.assert_array_equal(secagg.prg_expand(seed, 5000), words)
    words64 = np.frombuffer(aes_ctr(key, bytes(16), 8 * 777), dtype="<u8")
    np.testing.assert_array_equal(secagg.prg_expand(seed, 777, modulus_range=2**64), words64)


@given(seed=st.binary(min_size=32, max_size=32), length=st.integers(0, 3000), modulus=MODULI)
def test_prg_expand_matches_reference(seed, length, modulus):
    got = secagg.prg_expand(seed, length, modulus_range=modulus)
    assert got.dtype == (np.uint32 if modulus <= 2**32 else np.uint64)
    assert got.shape == (length,)
    np.testing.assert_array_equal(got, reference.prg_expand(seed, length, modulus_range=modulus))
    if length:
        assert int(got.max()) < modulus


@pytest.mark.parametrize("modulus", [2**32, 2**16, 2**64, 1000003, 3 * 2**40])
def test_portable_and_hardware_agree(modulus):
    seed = os.urandom(32)
    outs = {}
    try:
        for b in BACKENDS:
            set_backend(b)
            outs[b] = secagg.prg_expand(seed, 20_011, modulus_range=modulus)
    finally:
        set_backend("auto")
    for b in BACKENDS:
        np.testing.assert_array_equal(outs[b], outs["portable"])


def test_env_var_forces_portable(monkeypatch):
    monkeypatch.setenv("SECAGG_FORCE_PORTABLE", "1")
    assert prg_backend() == "portable"
    seed = os.urandom(32)
    forced = secagg.prg_expand(seed, 1000)
    monkeypatch.delenv("SECAGG_FORCE_PORTABLE")
    assert prg_backend() == BACKENDS[-1]
    np.testing.assert_array_equal(forced, secagg.prg_expand(seed, 1000))


def test_prg_is_a_prefix_stream():
    seed = os.urandom(32)
    for modulus in (2**32, 2**64, 1000):
        long = secagg.prg_expand(seed, 3000, modulus_range=modulus)
        np.testing.assert_array_equal(secagg.prg_expand(seed, 1234, modulus_range=modulus),
                                      long[:1234])


@pytest.mark.parametrize("seed", [b"", bytes(31), bytes(33), "a" * 32, None, 12345])
def test_bad_seed(seed):
    with pytest.raises(SeedError):
        secagg.prg_expand(seed, 10)


@pytest.mark.parametrize("modulus", [0, 1, -4, 2**64 + 1, 2**65, 2**62 + 1, 3 * 2**62, 2.0**32, True])
def test_bad_modulus(modulus):
    with pytest.raises(ModulusError):
        secagg.prg_expand(bytes(32), 10, modulus_range=modulus)


def test_bad_length_and_backend():
    with pytest.raises(ShapeError):
        secagg.prg_expand(bytes(32), -1)
    with pytest.raises(ShapeError):
        secagg.prg_expand(bytes(32), 2.5)
    with pytest.raises(ConfigError):
        set_backend("fast")
    with pytest.raises(ConfigError):
        secagg.prg_expand(bytes(32), 10, threads=0)


def test_core_refuses_directly_too():
    with pytest.raises(SeedError):
        _core.prg_expand(bytes(5), 10, 2**32)
    with pytest.raises(ModulusError):
        _core.prg_expand(bytes(32), 10, 2**64 + 1)
    with pytest.raises(SeedError):
        _core.aes256_ctr(bytes(16), bytes(16), 16)
