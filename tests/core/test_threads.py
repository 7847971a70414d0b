"""Threads: multi-threaded kernels equal single-threaded ones; the GIL is released."""

from __future__ import annotations

import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

import secagg

D = 100_003  # not a multiple of any block size


@pytest.mark.parametrize("modulus", [2**32, 2**20, 2**64, 1_000_003, 3 * 2**40])
def test_threaded_equals_serial(modulus):
    rng = np.random.default_rng(5)
    x = rng.normal(size=D).astype(np.float32)
    kw = dict(clipping_range=2.0, quantization_range=2**8, modulus_range=modulus,
              self_seed=os.urandom(32), peer_seeds=[os.urandom(32) for _ in range(5)],
              peer_signs=[1, -1, 1, 1, -1], rounding_seed=os.urandom(32))
    serial = secagg.quantize_and_mask(x, threads=1, **kw)
    ukw = dict(modulus_range=modulus, self_seeds=[os.urandom(32)] * 2,
               peer_seeds=kw["peer_seeds"][:3], peer_signs=kw["peer_signs"][:3])
    un_serial = secagg.unmask(serial, threads=1, **ukw)
    sum_serial = secagg.sum_masked([serial, un_serial, serial], modulus_range=modulus, threads=1)
    prg_serial = secagg.prg_expand(b"\x03" * 32, D, modulus_range=modulus, threads=1)
    for t in (2, 3, 7, None):
        np.testing.assert_array_equal(secagg.quantize_and_mask(x, threads=t, **kw), serial)
        np.testing.assert_array_equal(secagg.unmask(serial, threads=t, **ukw), un_serial)
        np.testing.assert_array_equal(
            secagg.sum_masked([serial, un_serial, serial], modulus_range=modulus, threads=t),
            sum_serial)
        np.testing.assert_array_equal(
            secagg.prg_expand(b"\x03" * 32, D, modulus_range=modulus, threads=t), prg_serial)
    q = secagg.quantize(x, clipping_range=2.0, quantization_range=2**8,
                        rounding_seed=kw["rounding_seed"], threads=1)
    np.testing.assert_array_equal(
        secagg.quantize(x, clipping_range=2.0, quantization_range=2**8,
                        rounding_seed=kw["rounding_seed"], threads=2), q)


def test_concurrent_python_threads_match_serial():
    rng = np.random.default_rng(9)
    jobs = []
    for i in range(8):
        x = rng.normal(size=50_000 + i).astype(np.float64)
        kw = dict(clipping_range=1.0, quantization_range=2**10,
                  modulus_range=[2**32, 1_000_003][i % 2], self_seed=os.urandom(32),
                  peer_seeds=[os.urandom(32) for _ in range(4)], peer_signs=[1, -1, -1, 1],
                  rounding_seed=os.urandom(32))
        jobs.append((x, kw))
    serial = [secagg.quantize_and_mask(x, threads=1, **kw) for x, kw in jobs]
    with ThreadPoolExecutor(max_workers=4) as pool:
        parallel = list(pool.map(lambda job: secagg.quantize_and_mask(job[0], **job[1]), jobs))
    for a, b in zip(serial, parallel):
        np.testing.assert_array_equal(a, b)


def test_gil_is_released_during_kernel():
    """While a long kernel runs in another thread, this thread keeps running Python code.

    If the kernel held the GIL, the main thread would stall for the kernel's whole duration;
    we require the longest stall to be well below it.
    """
    x = np.zeros(2_000_000, dtype=np.float32)
    peers = [os.urandom(32) for _ in range(24)]
    kw = dict(clipping_range=1.0, quantization_range=2**8, modulus_range=2**32,
              self_seed=os.urandom(32), peer_seeds=peers, peer_signs=[1] * len(peers), threads=1)
    done = threading.Event()
    duration = []

    def work():
        t0 = time.perf_counter()
        secagg.quantize_and_mask(x, **kw)
        duration.append(time.perf_counter() - t0)
        done.set()

    worker = threading.Thread(target=work)
    stamps = [time.perf_counter()]
    worker.start()
    while not done.is_set():
        stamps.append(time.perf_counter())
    worker.join()
    longest_stall = float(np.max(np.diff(stamps))) if len(stamps) > 1 else float("inf")
    assert duration[0] > 0.02, "kernel too short to tell"
    assert longest_stall < 0.5 * duration[0], (longest_stall, duration[0])
