"""Threads: multi-threaded kernels equal single-threaded ones; the GIL is released."""

from __future__ import annotations

import os
import threading
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
    """While a kernel runs in another thread, this thread keeps running Python code.

    Proved by what the kernel read, not by timing. The worker masks ``x`` with ``threads=1``:
    one pass that reads ``x[0]`` first and ``x[-1]`` last. Meanwhile this thread runs a Python
    loop ``k += 1; x[0] = k; x[-1] = k`` (scalar writes, each made while holding the GIL). The
    quantization is exact for integers (``(Q - 1) / 2c == 1``), so the output tells which ``k``
    the kernel saw at each end. If it saw a *larger* ``k`` at ``x[-1]`` than at ``x[0]``, the
    write ``x[-1] = k`` ran after the kernel had read ``x[0]`` and before it read ``x[-1]``:
    Python code ran in this thread while the kernel was inside its native call. A kernel that
    held the GIL reads both ends between two of this thread's statements, so it can only see
    ``k_last <= k_first``, however fast or slow the machine is.

    The operating system may not schedule this thread during a given call (a loaded machine),
    so the kernel is retried, up to a generous bound, until the overlap is observed once.
    """
    clipping = 2**20
    kw = dict(clipping_range=float(clipping), quantization_range=2 * clipping + 1,
              modulus_range=2**32, self_seed=os.urandom(32),
              peer_seeds=[os.urandom(32) for _ in range(16)], peer_signs=[1, -1] * 8,
              rounding_seed=os.urandom(32), threads=1)
    n = 2_000_000
    base = secagg.quantize_and_mask(np.zeros(n), **kw)  # quantize(0) + masks

    def seen(out: np.ndarray) -> tuple[int, int]:
        """The values of x[0] and x[-1] that the kernel read (x is 0 everywhere else)."""
        delta = (out.astype(np.int64) - base.astype(np.int64)) % 2**32
        assert not delta[1:-1].any(), "the kernel saw writes this test never made"
        return int(delta[0]), int(delta[-1])

    calibration = np.zeros(n)
    calibration[0], calibration[-1] = 3.0, 7.0
    assert seen(secagg.quantize_and_mask(calibration, **kw)) == (3, 7)

    attempts, observed = 0, []
    for attempts in range(1, 51):
        x = np.zeros(n)  # float64: every k below is exact
        out: list[np.ndarray] = []
        done = threading.Event()

        def work() -> None:
            try:
                out.append(secagg.quantize_and_mask(x, **kw))
            finally:
                done.set()

        worker = threading.Thread(target=work)
        worker.start()
        k = 0
        while not done.is_set() and k < clipping:
            k += 1
            x[0] = k
            x[-1] = k
        worker.join()
        first, last = seen(out[0])
        assert 0 <= first <= k and 0 <= last <= k
        observed.append((first, last))
        if last > first:
            break
    assert observed[-1][1] > observed[-1][0], (
        f"in {attempts} kernel calls this thread never ran Python code while the kernel was "
        f"inside its native call (x[0], x[-1] as read, last calls: {observed[-5:]})")
