"""Byte strings that get hashed, signed or bound as associated data (one place, so both sides agree).

Session ids, as every party computes them itself (never taken from the server):

* ``config_digest`` = SHA-256 over the session configuration exactly as it travels (every field:
  cohort, graph kind, degree, threshold, modulus, quantization, vector length, threat model, input
  kind, dropout budget, graph seed, protocol version).
* ``first_session_id`` = SHA-256(server label, config digest): what round-0 signatures cover, so a
  client shown another configuration (say another threshold) signs something its neighbours reject.
* ``session_id`` = SHA-256(server label, config digest, cohort digest, graph seed): everything
  later is bound to it - share encryption, pairwise masks, share commitments, consistency
  signatures. In active sessions the cohort digest hashes every advertised key pair (and graph-seed
  commitment) of the cohort, as Google's fcp binds its session id to all advertised keys; fresh
  keys make it unique to this session even if a server reuses its label.
"""

from __future__ import annotations

import functools
import hashlib
import struct
from collections.abc import Iterable, Mapping
from typing import Any

import msgpack

from ..core.crypto import KeyPair
from .stage import Stage

_DOMAIN = b"secagg-v2/"
_ID = struct.Struct("<Q")


def _sha256(*parts: bytes) -> bytes:
    h = hashlib.sha256()
    for part in parts:
        h.update(part)
    return h.digest()


def config_digest(wire: Mapping[str, Any]) -> bytes:
    """SHA-256 of a session configuration's wire form (its fields in their fixed order)."""
    return _sha256(_DOMAIN + b"config", msgpack.packb(dict(wire), use_bin_type=True))


def first_session_id(label: bytes, cfg_digest: bytes) -> bytes:
    """The session id round-0 signatures cover (the cohort is not known yet)."""
    return _sha256(_DOMAIN + b"session0", _ID.pack(len(label)), label, cfg_digest)


def cohort_digest(cohort: Mapping[int, tuple[bytes, bytes, bytes]]) -> bytes:
    """SHA-256 over the cohort: every client id with its advertised (c_public, s_public, graph-seed
    commitment, empty outside active SecAgg+), in id order."""
    h = hashlib.sha256(_DOMAIN + b"cohort" + _ID.pack(len(cohort)))
    for cid in sorted(cohort):
        c_public, s_public, commitment = cohort[cid]
        h.update(_ID.pack(cid) + c_public + s_public + _ID.pack(len(commitment)) + commitment)
    return h.digest()


def session_id(label: bytes, cfg_digest: bytes, cohort: bytes = b"", graph_seed: bytes = b"") -> bytes:
    """The session id everything after round 0 is bound to (see the module docstring)."""
    return _sha256(_DOMAIN + b"session", _ID.pack(len(label)), label, cfg_digest,
                   _ID.pack(len(cohort)), cohort, _ID.pack(len(graph_seed)), graph_seed)


def advertise_transcript(first_id: bytes, client_id: int, c_public: bytes, s_public: bytes,
                         commitment: bytes = b"") -> bytes:
    """What a client signs over its advertised keys (active model), with its graph-seed commitment."""
    return (_DOMAIN + b"advertise" + first_id + _ID.pack(client_id) + c_public + s_public
            + _ID.pack(len(commitment)) + commitment)


def consistency_transcript(sid: bytes, survivors: Iterable[int]) -> bytes:
    """What a client signs in the consistency check: the session and the sorted survivor set."""
    ids = sorted(survivors)
    return (_DOMAIN + b"consistency" + sid + struct.pack("<Q", len(ids))
            + struct.pack(f"<{len(ids)}Q", *ids))


SELF_MASK_SHARE, KEY_SHARE = b"b", b"s"


_PAIR = struct.Struct("<QQ")


@functools.lru_cache(maxsize=16)
def _share_prefix(sid: bytes, kind: bytes) -> Any:
    return hashlib.sha256(_DOMAIN + b"share" + kind + sid)  # the constant part, hashed once


def share_hash(sid: bytes, owner: int, holder: int, kind: bytes, share: bytes) -> bytes:
    """The commitment to one encoded Shamir share (``kind``: self-mask or key share):
    SHA-256(domain, kind, session id, owner, holder, share)."""
    h = _share_prefix(sid, kind).copy()
    h.update(_PAIR.pack(owner, holder) + share)
    return h.digest()


def share_hash_pair(sid: bytes, owner: int, holder: int, b_share: bytes, s_share: bytes) -> tuple[bytes, bytes]:
    """The commitments to the two shares ``owner`` dealt ``holder``: (self-mask share, key share)."""
    return (share_hash(sid, owner, holder, SELF_MASK_SHARE, b_share),
            share_hash(sid, owner, holder, KEY_SHARE, s_share))


def seed_commitment(sid: bytes, owner: int, seed: bytes) -> bytes:
    """The commitment to a client's self-mask seed."""
    return _sha256(_DOMAIN + b"self-mask-seed", sid, _ID.pack(owner), seed)


def is_committed_secret(sid: bytes, owner: int, kind: bytes, secret: bytes, seed_commit: bytes,
                        s_public: bytes) -> bool:
    """Whether ``secret``, rebuilt from ``owner``'s shares of ``kind``, is what ``owner`` stands by:
    the self-mask seed that opens ``seed_commit``, or the private key of its advertised ``s_public``."""
    if kind == SELF_MASK_SHARE:
        return seed_commitment(sid, owner, secret) == seed_commit
    return KeyPair.from_private_bytes(secret).public == s_public


def commitment_transcript(sid: bytes, owner: int, seed_commit: bytes,
                          share_hashes: Mapping[int, tuple[bytes, bytes]]) -> bytes:
    """What a client signs over its commitments: its self-mask seed and every share it dealt."""
    h = hashlib.sha256(_DOMAIN + b"commitments" + sid + _ID.pack(owner) + seed_commit)
    for holder in sorted(share_hashes):
        b_hash, s_hash = share_hashes[holder]
        h.update(_ID.pack(holder) + b_hash + s_hash)
    return h.digest()


_SHARES = _DOMAIN + b"shares"
_SHARE_ROUTE = struct.Struct("<QQB")
_SHARE_STAGE = int(Stage.SHARE_KEYS)


def share_aad(sid: bytes, sender: int, receiver: int) -> bytes:
    """Associated data of a share ciphertext: session, sender, receiver and stage."""
    return _SHARES + sid + _SHARE_ROUTE.pack(sender, receiver, _SHARE_STAGE)
