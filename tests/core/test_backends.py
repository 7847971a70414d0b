"""The native backends: known answers on every AES backend, all backends agree on random input, and
forcing the portable backend switches every kernel family (and changes no output)."""

from __future__ import annotations

import os

import numpy as np
import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from hypothesis import given, settings
from hypothesis import strategies as st

import secagg
from secagg import _core
from secagg.core.masking import quantize_and_mask_skellam, unmask
from secagg.core.prg import BACKENDS, available_backends, kernel_backends, set_backend
from secagg.errors import ConfigError

AVAILABLE = available_backends()
KERNELS = ("aes", "quantize", "field", "noise", "shamir")

# FIPS-197 appendix C.3 (AES-256): E(key, plaintext) = ciphertext
FIPS197_KEY = bytes(range(32))
FIPS197_PT = bytes.fromhex("00112233445566778899aabbccddeeff")
FIPS197_CT = bytes.fromhex("8ea2b7ca516745bfeafc49904b496089")


@pytest.fixture(params=AVAILABLE)
def backend(request):
    set_backend(request.param)
    yield request.param
    set_backend("auto")


def test_fips197_c3_block(backend):
    # CTR keystream block 0 is E(key, initial counter block).
    assert _core.aes256_ctr(FIPS197_KEY, FIPS197_PT, 16) == FIPS197_CT


@settings(max_examples=60, deadline=None)
@given(key=st.binary(min_size=32, max_size=32), iv=st.one_of(
    st.binary(min_size=16, max_size=16),
    st.integers(0, 40).map(lambda k: (2**64 - k).to_bytes(16, "big")),       # low-word wrap
    st.integers(1, 40).map(lambda k: (2**128 - k).to_bytes(16, "big"))),     # 128-bit wrap
    nbytes=st.integers(1, 700))
def test_all_backends_agree_with_cryptography(key, iv, nbytes):
    want = Cipher(algorithms.AES(key), modes.CTR(iv)).encryptor().update(bytes(nbytes))
    try:
        for b in AVAILABLE:
            set_backend(b)
            assert _core.aes256_ctr(key, iv, nbytes) == want, b
    finally:
        set_backend("auto")


def test_available_backends_are_known_and_fastest_last():
    assert AVAILABLE[0] == "portable"
    assert set(AVAILABLE) <= set(BACKENDS)
    assert [b for b in BACKENDS if b in AVAILABLE] == AVAILABLE
    set_backend("auto")
    assert kernel_backends()["aes"] == AVAILABLE[-1]


def test_unavailable_or_unknown_backend_is_refused():
    with pytest.raises(ConfigError, match="unknown backend"):
        set_backend("ttable")
    for b in set(BACKENDS) - set(AVAILABLE):
        with pytest.raises(ConfigError, match="does not support"):
            set_backend(b)


def _every_kernel() -> dict[str, np.ndarray]:
    """One output of every kernel family, from fixed inputs."""
    rng = np.random.default_rng(7)
    x = rng.normal(0, 1, 5003).astype(np.float32)
    seeds = [bytes([i]) * 32 for i in range(1, 5)]
    kw = dict(clipping_range=3.0, quantization_range=2**16, self_seed=seeds[0],
              peer_seeds=seeds[1:], peer_signs=[1, -1, 1], rounding_seed=bytes(32))
    out = {
        "prg_pow2": secagg.prg_expand(seeds[0], 3001, modulus_range=2**32),
        "mask_pow2": secagg.quantize_and_mask(x, modulus_range=2**32, **kw),
        "mask_field": secagg.quantize_and_mask(x, modulus_range=2**40 - 87, **kw),  # rejection
        "noise": quantize_and_mask_skellam(x, modulus_range=2**32, noise_seed=bytes(range(32)),
                                           noise_variance=1e4, **kw),
        "skellam": _core.skellam_sample(bytes(range(32)), 1e4, 4001),
        "unmask_field": unmask(np.arange(5003, dtype=np.uint64), modulus_range=2**40 - 87,
                               self_seeds=seeds[:2], peer_seeds=seeds[2:], peer_signs=[1, -1]),
        "shamir": _core.shamir_split(bytes(range(32)), 3, 9,
                                     np.arange(16, dtype=np.uint64) * 12345),
    }
    return out


def test_forcing_portable_switches_every_kernel_and_changes_no_output(monkeypatch):
    set_backend("auto")
    auto_report = kernel_backends()
    auto = _every_kernel()
    if "bitsliced-avx2" in AVAILABLE:  # an AVX2 CPU: the automatic SIMD kernels are AVX2 ones
        assert {k: auto_report[k] for k in KERNELS[1:]} == dict.fromkeys(KERNELS[1:], "avx2")
    try:
        set_backend("portable")
        assert kernel_backends() == dict.fromkeys(KERNELS, "portable")
        by_call = _every_kernel()
    finally:
        set_backend("auto")
    monkeypatch.setenv("SECAGG_FORCE_PORTABLE", "1")
    assert kernel_backends() == dict.fromkeys(KERNELS, "portable")
    by_env = _every_kernel()
    monkeypatch.delenv("SECAGG_FORCE_PORTABLE")
    assert kernel_backends() == auto_report
    for name, want in auto.items():
        np.testing.assert_array_equal(by_call[name], want, err_msg=name)
        np.testing.assert_array_equal(by_env[name], want, err_msg=name)


def test_masks_cancel_on_every_backend(backend):
    # Two clients with one pairwise seed: the sum of their masked vectors, minus both self masks,
    # is the sum of their quantized updates.
    pair, s1, s2 = os.urandom(32), os.urandom(32), os.urandom(32)
    kw = dict(clipping_range=1.0, quantization_range=2**10, modulus_range=2**32,
              rounding_seed=bytes(32))
    x = np.linspace(-1, 1, 1001, dtype=np.float32)
    y1 = secagg.quantize_and_mask(x, self_seed=s1, peer_seeds=[pair], peer_signs=[1], **kw)
    y2 = secagg.quantize_and_mask(x, self_seed=s2, peer_seeds=[pair], peer_signs=[-1], **kw)
    q = secagg.quantize_and_mask(x, self_seed=None, peer_seeds=[], peer_signs=[], **kw)
    total = unmask((y1 + y2).astype(np.uint32), modulus_range=2**32, self_seeds=[s1, s2],
                   peer_seeds=[], peer_signs=[])
    np.testing.assert_array_equal(total, (2 * q.astype(np.uint64)) % 2**32)
