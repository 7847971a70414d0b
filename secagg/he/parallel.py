"""Encrypt many simulated clients' updates on several cores.

TenSEAL keeps the GIL during encryption (a thread pool measured no faster than a loop), so the
only way to use more cores is processes. Each worker loads the public context once; updates go
in as arrays and uploads come back as bytes, exactly what crosses the network in a deployment.
"""

from __future__ import annotations

import multiprocessing
import time
from collections.abc import Iterable
from concurrent.futures import ProcessPoolExecutor

import numpy as np

from .client import Client
from .params import BFVParameters, CKKSParameters
from .schemes import BFVScheme, CKKSScheme, Scheme

_worker_client: Client | None = None


def make_scheme(params: BFVParameters | CKKSParameters) -> Scheme:
    """The scheme object for a parameter set."""
    return BFVScheme(params) if isinstance(params, BFVParameters) else CKKSScheme(params)


def _init_worker(params: BFVParameters | CKKSParameters, public_context: bytes) -> None:
    global _worker_client
    _worker_client = Client(make_scheme(params), public_context, n_threads=1)


def _encrypt(job: tuple[int, np.ndarray, int]) -> tuple[int, bytes, float]:
    cid, update, round_tag = job
    assert _worker_client is not None
    start = time.perf_counter()
    payload = _worker_client.encrypt(update, round_tag=round_tag)
    return cid, payload, time.perf_counter() - start


def encrypt_in_processes(params: BFVParameters | CKKSParameters, public_context: bytes,
                         jobs: Iterable[tuple[int, np.ndarray, int]],
                         workers: int) -> dict[int, tuple[bytes, float]]:
    """client id -> (upload bytes, seconds spent encrypting) using ``workers`` processes.

    The pool lives only for this call (no process outlives it).
    """
    ctx = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=workers, mp_context=ctx, initializer=_init_worker,
                             initargs=(params, public_context)) as pool:
        return {cid: (payload, secs) for cid, payload, secs in pool.map(_encrypt, jobs)}
