"""Hostile arguments to the kernels: specific secagg errors before any allocation or native call."""

from __future__ import annotations

import numpy as np
import pytest

import secagg
from secagg.errors import ConfigError, ShapeError


@pytest.mark.parametrize("length", [2**31, 2**40, 2**64])
def test_prg_expand_refuses_a_length_no_kernel_takes(length):
    with pytest.raises(ShapeError, match="length must be an int in"):
        secagg.prg_expand(bytes(32), length)


@pytest.mark.parametrize("threads", [0, -1, 2**32, 1.0, "2", True])
def test_a_thread_count_out_of_range_is_a_config_error(threads):
    with pytest.raises(ConfigError, match="threads"):
        secagg.prg_expand(bytes(32), 10, threads=threads)


@pytest.mark.parametrize("value", ["99999999999", "-3", "two", "1.5"])
def test_a_bad_secagg_threads_variable_is_named(monkeypatch, value):
    monkeypatch.setenv("SECAGG_THREADS", value)
    with pytest.raises(ConfigError, match="SECAGG_THREADS"):
        secagg.prg_expand(bytes(32), 10)
    with pytest.raises(ConfigError, match="SECAGG_THREADS"):
        secagg.quantize(np.zeros(4), clipping_range=1.0, quantization_range=16)


@pytest.mark.parametrize("value", ["", "0", "auto", "1", "4"])
def test_secagg_threads_accepts_automatic_and_counts(monkeypatch, value):
    monkeypatch.setenv("SECAGG_THREADS", value)
    expected = secagg.prg_expand(bytes(32), 1000, threads=1)
    np.testing.assert_array_equal(secagg.prg_expand(bytes(32), 1000), expected)


@pytest.mark.parametrize("n", [-1, 2**31, 2.5])
def test_native_skellam_sampler_refuses_bad_lengths(n):
    with pytest.raises(ShapeError):
        secagg.dp.skellam_sample_native(bytes(32), n, 10.0)
