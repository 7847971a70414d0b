"""The client role: holds only the public context, encrypts its own update for one round."""

from __future__ import annotations

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
