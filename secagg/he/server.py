"""The server role: a public context (no secret key); checks uploads and adds them up."""

from __future__ import annotations

from typing import Any

from ..errors import (
    CiphertextError,
    HEError,
    KeyMismatchError,
    ProtocolError,
    ReplayError,
    ThresholdError,
)
from ._tenseal import load_public_context
from .packing import chunk_lengths
from .schemes import Scheme
from .wire import EncryptedAggregate, fingerprint, parse_upload

# Slack for msgpack framing and TenSEAL/SEAL headers, per ciphertext and per message.
_FRAME_SLACK = 4096


def max_ciphertext_bytes(poly_modulus_degree: int, data_moduli: int) -> int:
    """Upper bound on one serialized fresh ciphertext: 2 polynomials of uint64 coefficients."""
    return 2 * poly_modulus_degree * 8 * data_moduli + _FRAME_SLACK


class Server:
    """Sums one round's encrypted uploads. It holds no secret key and so cannot decrypt.

    Each upload is fully checked before it touches the running sum, so a bad upload is rejected
    (recorded in :attr:`rejected`, the error re-raised) and every other client's contribution is
    kept.
    """

    def __init__(self, scheme: Scheme, public_context: bytes, *, dim: int, round_tag: int,
                 n_threads: int | None = None) -> None:
        self._context = load_public_context(public_context, n_threads=n_threads, role="the server")
        self.scheme = scheme
        self.key_id = fingerprint(bytes(public_context))
        self.dim = dim
        self.round_tag = round_tag
        self._lengths = chunk_lengths(dim, scheme.slots)
        params = scheme.params  # type: ignore[attr-defined]
        per_ct = max_ciphertext_bytes(params.poly_modulus_degree,
                                      len(params.coeff_mod_bit_sizes) - 1)
        self._max_bytes = per_ct * len(self._lengths) + _FRAME_SLACK
        self._sum: list[Any] | None = None
        self.included: list[int] = []
        self.rejected: dict[int, Exception] = {}

    @property
    def context(self) -> Any:
        """The server's TenSEAL context (public: ``has_secret_key()`` is False)."""
        return self._context

    def receive(self, client_id: int, payload: bytes) -> None:
        """Check one client's upload and add it; raise a specific error (and record it) if bad."""
        try:
            vectors = self._check(client_id, payload)
        except (HEError, ProtocolError) as exc:
            self.rejected[client_id] = exc
            raise
        if self._sum is None:
            self._sum = vectors
        else:
            for acc, vec in zip(self._sum, vectors):
                acc.add_(vec)
        self.included.append(client_id)

    def _check(self, client_id: int, payload: bytes) -> list[Any]:
        if client_id in self.included or client_id in self.rejected:
            raise ReplayError(f"client {client_id} already uploaded in this round")
        upload = parse_upload(payload, max_bytes=self._max_bytes)
        if upload.scheme != self.scheme.name:
            raise CiphertextError(f"client {client_id} sent a {upload.scheme} upload to a "
                                  f"{self.scheme.name} server")
        if upload.key_id != self.key_id:
            raise KeyMismatchError(f"client {client_id} encrypted under another context or key; "
                                   "it must fetch the key holder's current public context")
        if upload.round_tag != self.round_tag:
            raise ReplayError(f"client {client_id} sent an upload for round tag "
                              f"{upload.round_tag}, this round is {self.round_tag}")
        if upload.dim != self.dim or len(upload.ciphertexts) != len(self._lengths):
            raise CiphertextError(f"client {client_id} sent {upload.dim} values in "
                                  f"{len(upload.ciphertexts)} ciphertexts; expected {self.dim} in "
                                  f"{len(self._lengths)}")
        vectors = []
        for index, (data, length) in enumerate(zip(upload.ciphertexts, self._lengths)):
            vec = self.scheme.load(self._context, data)
            parts = vec.ciphertext()
            if vec.size() != length or len(parts) != 1 or parts[0].size() != 2:
                raise CiphertextError(f"ciphertext {index} of client {client_id} holds "
                                      f"{vec.size()} values; expected a fresh ciphertext of "
                                      f"{length}")
            vectors.append(vec)
        return vectors

    def aggregate(self) -> bytes:
        """Serialize the encrypted sum for the key holder."""
        if self._sum is None:
            raise ThresholdError("no client's upload arrived intact; nothing to aggregate",
                                 stage="MASKED_INPUT", survivors=0, threshold=1)
        return EncryptedAggregate(self.scheme.name, self.key_id, self.round_tag, self.dim,
                                  len(self.included),
                                  tuple(vec.serialize() for vec in self._sum)).to_bytes()
