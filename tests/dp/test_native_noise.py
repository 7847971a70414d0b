"""The native Skellam noise: bit-identical to the Python sampler, added inside the fused kernel."""

from __future__ import annotations

import threading

import numpy as np
import pytest

import secagg
from secagg.core.masking import quantize_and_mask_skellam, skellam_sample_native
from secagg.dp.skellam import sample_skellam, skellam_table, table_width
from secagg.errors import PrivacyError, SeedError

SEED = bytes(range(32))


@pytest.mark.parametrize("variance", [0.0, 0.3, 7.0, 1234.5, 2.5e5, 3e7])
def test_native_equals_python_bit_for_bit(variance: float) -> None:
    n = 20_001
    np.testing.assert_array_equal(skellam_sample_native(SEED, n, variance, threads=1),
                                  sample_skellam(SEED, n, variance))


def test_native_is_thread_count_independent() -> None:
    a = skellam_sample_native(SEED, 100_003, 5e4, threads=1)
    np.testing.assert_array_equal(a, skellam_sample_native(SEED, 100_003, 5e4, threads=2))


def test_table_is_a_distribution() -> None:
    for v in (0.5, 100.0, 1e6):
        cdf = skellam_table(v)
        assert cdf.size == 2 * table_width(v) + 1
        assert np.all(np.diff(cdf) >= 0) and abs(cdf[-1] - 1) < 1e-12


def _kernel_args(d: int, peers: int) -> dict:
    rng = np.random.default_rng(3)
    return dict(clipping_range=1.0, quantization_range=2**12, modulus_range=2**32,
                self_seed=bytes([9]) * 32, peer_seeds=[bytes([i + 1]) * 32 for i in range(peers)],
                peer_signs=[1 if i % 2 else -1 for i in range(peers)], rounding_seed=bytes([7]) * 32,
                update=rng.uniform(-1, 1, d))


def test_fused_noise_is_quantize_and_mask_plus_the_python_noise() -> None:
    d, var = 5000, 900.0
    kw = _kernel_args(d, 4)
    plain = secagg.quantize_and_mask(kw.pop("update"), **kw)
    kw2 = _kernel_args(d, 4)
    noisy = quantize_and_mask_skellam(kw2.pop("update"), noise_seed=SEED, noise_variance=var, **kw2)
    diff = (noisy.astype(np.int64) - plain.astype(np.int64)) % 2**32
    diff = np.where(diff >= 2**31, diff - 2**32, diff)
    np.testing.assert_array_equal(diff, sample_skellam(SEED, d, var))


def test_zero_noise_is_exactly_the_plain_kernel() -> None:
    kw = _kernel_args(3000, 3)
    x = kw.pop("update")
    np.testing.assert_array_equal(
        quantize_and_mask_skellam(x, noise_seed=SEED, noise_variance=0.0, **kw),
        secagg.quantize_and_mask(x, **kw))


def test_noise_with_a_non_power_of_two_modulus() -> None:
    kw = _kernel_args(2000, 2)
    x = kw.pop("update")
    kw["modulus_range"] = 1_000_003
    plain = secagg.quantize_and_mask(x, **kw)
    noisy = quantize_and_mask_skellam(x, noise_seed=SEED, noise_variance=50.0, **kw)
    expect = (plain.astype(np.int64) + sample_skellam(SEED, 2000, 50.0)) % 1_000_003
    np.testing.assert_array_equal(noisy.astype(np.int64), expect)


def test_gil_released_threads_match_serial() -> None:
    kw = _kernel_args(200_000, 2)
    x = kw.pop("update")
    serial = [quantize_and_mask_skellam(x, noise_seed=bytes([i]) * 32, noise_variance=1e4, **kw)
              for i in range(4)]
    results: dict[int, np.ndarray] = {}

    def work(i: int) -> None:
        results[i] = quantize_and_mask_skellam(x, noise_seed=bytes([i]) * 32, noise_variance=1e4, **kw)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for i in range(4):
        np.testing.assert_array_equal(results[i], serial[i])


def test_bad_noise_arguments() -> None:
    kw = _kernel_args(10, 0)
    x = kw.pop("update")
    with pytest.raises(PrivacyError):
        quantize_and_mask_skellam(x, noise_seed=SEED, noise_variance=-1.0, **kw)
    with pytest.raises(PrivacyError):
        quantize_and_mask_skellam(x, noise_seed=SEED, noise_variance=2.0**28, **kw)
    with pytest.raises(SeedError):
        quantize_and_mask_skellam(x, noise_seed=b"short", noise_variance=1.0, **kw)
