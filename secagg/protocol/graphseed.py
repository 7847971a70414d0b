"""The SecAgg+ graph seed of an active session: drawn by the clients, by commit and reveal.

A server free to choose the seed of the permuted Harary graph could try seeds until its colluders
surround a victim. So in active SecAgg+ sessions nobody chooses it alone:

1. ADVERTISE_KEYS: each client draws a fresh 32-byte nonce r_i and sends the commitment
   ``C_i = SHA-256(domain, first session id, i, r_i)`` inside its signed key advertisement.
2. GRAPH_SEED: the server fixes the cohort - every client that advertised, with its keys and
   commitment - and sends it to all of them; each client checks its own entry and reveals r_i.
3. SHARE_KEYS: the server forwards the reveals; every client checks each against its commitment
   and computes ``seed = SHA-256(domain, cohort digest, (j, r_j) for the revealers j)``.

When a client reveals, the cohort and every other commitment are fixed, and its own nonce is
fresh, so the seed is uniform to everyone who chose anything before. What a server can still do
is leave out committed clients after seeing the nonces (claiming they never revealed): with m
clients in the cohort and e left out it chooses among ``sum_{j <= e} C(m - 1, j)`` seeds. Clients
refuse more than :data:`~secagg.protocol.params.SEED_TRIES_BITS` (2^20) such choices, and the
parameter finder counts those 2^20 tries in its security bound.
"""

from __future__ import annotations

import hashlib
import math
import struct
from collections.abc import Mapping

from .params import SEED_TRIES_BITS

NONCE_BYTES = 32
_DOMAIN = b"secagg-v2/graph-seed/"
_ID = struct.Struct("<Q")


def nonce_commitment(first_id: bytes, client_id: int, nonce: bytes) -> bytes:
    """``C_i``: binds client i to its nonce before it can see anyone else's."""
    return hashlib.sha256(_DOMAIN + b"commit" + first_id + _ID.pack(client_id) + nonce).digest()


def derive_seed(cohort: bytes, reveals: Mapping[int, bytes]) -> bytes:
    """The graph seed from the cohort digest and the revealed nonces (id order)."""
    h = hashlib.sha256(_DOMAIN + b"seed" + cohort + _ID.pack(len(reveals)))
    for cid in sorted(reveals):
        h.update(_ID.pack(cid) + reveals[cid])
    return h.digest()


def seed_choices(cohort_size: int, left_out: int) -> int:
    """How many seeds a server chooses among when it may leave out up to ``left_out`` of the
    other ``cohort_size - 1`` clients after a client revealed."""
    others = max(cohort_size - 1, 0)
    return sum(math.comb(others, j) for j in range(min(left_out, others) + 1))


def max_left_out(cohort_size: int) -> int:
    """The most committed clients that may miss the reveal before clients refuse the session."""
    e = 0
    while e < cohort_size - 1 and seed_choices(cohort_size, e + 1) <= 1 << SEED_TRIES_BITS:
        e += 1
    return e
