"""The client role: holds only the public context, encrypts its own update for one round."""

from __future__ import annotations

import functools
import time
from collections.abc import Sequence
from typing import Any

import numpy as np

from ._tenseal import load_public_context
from .packing import split
from .schemes import Scheme
from .wire import Upload, fingerprint


class Client:
    """Encrypts updates under the key holder's public key. Cannot decrypt anything.

    Clients are stateless apart from the public context, so one object can serve every simulated
    client of a round.
    """

    def __init__(self, scheme: Scheme, public_context: bytes, *, n_threads: int | None = None):
        self._context = load_public_context(public_context, n_threads=n_threads, role="a client")
        self.scheme = scheme
        self.key_id = fingerprint(bytes(public_context))

    def encrypt(self, update: np.ndarray, *, round_tag: int,
                rounding_seed: bytes | None = None) -> bytes:
        """Encode (quantize for BFV, clip for CKKS), encrypt chunk by chunk, serialize."""
        return self.encrypt_encoded(self.scheme.encode(update, rounding_seed), round_tag=round_tag)

    def encrypt_encoded(self, values: np.ndarray, *, round_tag: int) -> bytes:
        """Encrypt already-encoded values (BFV: ints in [0, Q-1]; CKKS: floats in [-c, c])."""
        values = self.scheme.check_encoded(values)
        cts = tuple(self.scheme.encrypt_chunk(self._context, chunk)
                    for chunk in split(values, self.scheme.slots))
        return Upload(self.scheme.name, self.key_id, int(round_tag), int(values.shape[0]),
                      cts).to_bytes()


@functools.lru_cache(maxsize=4)
def _client_for(params: Any, public_context: bytes) -> Client:
    """One Client per public context wherever the backend runs (loading a context is costly)."""
    from .schemes import make_scheme

    return Client(make_scheme(params), public_context, n_threads=1)


def encrypt_batch(shared: tuple[Any, bytes, int],
                  jobs: Sequence[tuple[int, np.ndarray]]) -> list[tuple[int, bytes, float]]:
    """Encrypt simulated clients' updates where a client backend runs them (see
    :meth:`~secagg.sim.backends.base.ClientBackend.map`): ``shared`` = (parameters, public context,
    round tag); returns (client id, upload bytes, seconds) per job."""
    params, public_context, round_tag = shared
    client = _client_for(params, bytes(public_context))
    out = []
    for cid, update in jobs:
        start = time.perf_counter()
        payload = client.encrypt(update, round_tag=round_tag)
        out.append((cid, payload, time.perf_counter() - start))
    return out
