"""The key holder role: creates the keys, publishes the public context, decrypts only aggregates.

TenSEAL has no threshold decryption: whoever holds the secret key can decrypt any single client's
ciphertext. The key holder therefore enforces a policy on what it agrees to decrypt (a server
message covering at least ``min_clients`` uploads, each round tag at most once) and must never
collude with the server, which sees every individual ciphertext.
"""

from __future__ import annotations

import numpy as np

from .._validate import check_int
from ..errors import ConfigError, HEError, NoiseBudgetError, ReplayError, ThresholdError
from ._tenseal import require_tenseal
from .packing import chunk_lengths, join
from .params import BFVParameters
from .schemes import Scheme
from .server import max_ciphertext_bytes
from .wire import fingerprint, parse_aggregate


class KeyHolder:
    """Owns the secret key. Never hands it out; decrypts server aggregates after policy checks."""

    def __init__(self, scheme: Scheme, *, min_clients: int = 2, n_threads: int | None = None):
        require_tenseal()
        self.scheme = scheme
        self.min_clients = check_int("min_clients", min_clients, lo=1)
        self._context = scheme.new_context(n_threads)
        self._public = self._context.serialize(save_public_key=True, save_secret_key=False,
                                               save_galois_keys=False, save_relin_keys=False)
        self.key_id = fingerprint(self._public)
        self._opened_rounds: set[int] = set()
        if isinstance(scheme.params, BFVParameters):  # type: ignore[attr-defined]
            self._check_noise_budget(scheme.params)  # type: ignore[attr-defined]

    def _check_noise_budget(self, params: BFVParameters) -> None:
        """Confirm on a real ciphertext that max_clients additions stay decryptable."""
        probe = self.scheme.load(self._context, self.scheme.encrypt_chunk(
            self._context, np.full(params.slots, params.quantization_range - 1, np.int64)))
        budget = self.scheme.noise_budget(self._context, probe)  # type: ignore[attr-defined]
        if budget < params.required_budget_bits:
            raise ConfigError(
                f"a fresh ciphertext has {budget} bits of noise budget; {params.max_clients} "
                f"additions need {params.required_budget_bits}: use a larger ring or a smaller "
                "max_clients / quantization_range")

    def public_context(self) -> bytes:
        """What clients and the server receive: parameters and public key, no secret key."""
        return self._public

    def decrypt_sum(self, aggregate: bytes) -> tuple[np.ndarray, int]:
        """Decrypt a server aggregate to its raw slot sums and the number of clients it covers.

        BFV: exact integer sums (uint64, in [0, t)). CKKS: approximate float sums.
        """
        params = self.scheme.params  # type: ignore[attr-defined]
        moduli = len(params.coeff_mod_bit_sizes) - 1
        msg = parse_aggregate(aggregate, max_bytes=min(
            max_ciphertext_bytes(params.poly_modulus_degree, moduli) << 16, 1 << 31))
        if msg.scheme != self.scheme.name or msg.key_id != self.key_id:
            raise HEError("the aggregate was not made under this key holder's key")
        if msg.num_clients < self.min_clients:
            raise ThresholdError(
                f"refusing to decrypt a sum of {msg.num_clients} client(s); the policy needs at "
                f"least {self.min_clients}", stage="MASKED_INPUT", survivors=msg.num_clients,
                threshold=self.min_clients)
        if msg.num_clients > params.max_clients:
            raise NoiseBudgetError(f"the aggregate claims {msg.num_clients} clients, more than "
                                   f"max_clients={params.max_clients} the keys were sized for")
        if msg.round_tag in self._opened_rounds:
            raise ReplayError(f"round tag {msg.round_tag} was already decrypted; each round is "
                              "decrypted at most once")
        lengths = chunk_lengths(msg.dim, self.scheme.slots)
        if len(msg.ciphertexts) != len(lengths):
            raise HEError(f"aggregate has {len(msg.ciphertexts)} ciphertexts; {msg.dim} values "
                          f"need {len(lengths)}")
        self._opened_rounds.add(msg.round_tag)
        chunks = []
        for data, length in zip(msg.ciphertexts, lengths):
            vec = self.scheme.load(self._context, data)
            if vec.size() != length:
                raise HEError(f"aggregate ciphertext holds {vec.size()} values, expected {length}")
            chunks.append(self.scheme.decrypt_chunk(self._context, vec))
        return join(chunks, msg.dim, self.scheme.result_dtype), msg.num_clients

    def decrypt(self, aggregate: bytes) -> tuple[np.ndarray, int]:
        """Decrypt and decode a server aggregate: (float64 sum of the updates, number of clients)."""
        raw, count = self.decrypt_sum(aggregate)
        return self.scheme.decode(raw, count), count
