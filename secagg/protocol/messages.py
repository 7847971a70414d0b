"""Typed, versioned, size-bounded protocol messages, serialised with msgpack.

Wire format: a msgpack array ``[version, kind, session_id, stage, client_id, body]`` where ``body``
is a map of the message's fields. Decoding is strict: wrong types, lengths or sizes raise
:class:`InvalidMessageError`; a message of another session, stage or kind than expected raises
:class:`ReplayError` (see :func:`expect`). ``client_id`` is the client the message is for (server
requests) or from (client replies).
"""

from __future__ import annotations

import struct
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any, ClassVar

import msgpack

from ..core.prg import MAX_VECTOR_ELEMENTS
from ..errors import InvalidMessageError, ReplayError
from .stage import Stage

PROTOCOL_VERSION = 3  # 3: the config's client ids travel packed (SessionConfig.to_wire)
SESSION_ID_BYTES = 16
KEY_BYTES = 32
HASH_BYTES = 32
COMMITMENT_BYTES = 2 * HASH_BYTES  # in front of an active envelope: its self-mask and key share hashes
NONCE_BYTES = 32
SIGNATURE_BYTES = 64
MAX_CLIENT_ID = 2**63 - 1
MAX_CLIENTS = 1 << 20
MAX_CIPHERTEXT_BYTES = 1024  # a share envelope, its commitments included
MAX_SHARE_BYTES = 256
MAX_VECTOR_LENGTH = MAX_VECTOR_ELEMENTS  # the longest vector any kernel takes
MAX_MESSAGE_BYTES = 1 << 32
MAX_TEXT = 256
_MAX_STAGE = int(max(Stage))


# --- field validators ----------------------------------------------------------------------------
def _int(v: Any, what: str, lo: int = 0, hi: int = MAX_CLIENT_ID) -> int:
    if type(v) is not int or not lo <= v <= hi:
        raise InvalidMessageError(f"{what} must be an int in [{lo}, {hi}], got {v!r:.60}")
    return v


def _bytes(v: Any, what: str, exact: int | None = None, most: int | None = None) -> bytes:
    if type(v) is not bytes:
        raise InvalidMessageError(f"{what} must be bytes, got {type(v).__name__}")
    if exact is not None and len(v) != exact:
        raise InvalidMessageError(f"{what} must be exactly {exact} bytes, got {len(v)}")
    if most is not None and len(v) > most:
        raise InvalidMessageError(f"{what} must be at most {most} bytes, got {len(v)}")
    return v


def _str(v: Any, what: str) -> str:
    if type(v) is not str or len(v) > MAX_TEXT:
        raise InvalidMessageError(f"{what} must be a string of at most {MAX_TEXT} characters")
    return v


def _list(v: Any, what: str) -> list:
    if type(v) is not list or len(v) > MAX_CLIENTS:
        raise InvalidMessageError(f"{what} must be a list of at most {MAX_CLIENTS} entries")
    return v


def _is_id(x: Any) -> bool:
    return type(x) is int and 0 <= x <= MAX_CLIENT_ID


def _ids(v: Any, what: str) -> tuple[int, ...]:
    ids = tuple(_list(v, what))
    if not all(map(_is_id, ids)):  # fast check; the loop below names the bad entry
        for x in ids:
            _int(x, f"{what} entry")
    if len(set(ids)) != len(ids):
        raise InvalidMessageError(f"{what} names a client more than once")
    return ids


def _id_map(v: Any, what: str, value: Any, fast: Any = None) -> dict[int, Any]:
    """A list of [client_id, value] pairs, each id at most once.

    ``fast(x)`` (optional) returns ``x`` validated, or None when ``x`` needs ``value(x, name)``,
    which raises with the precise message (names are only formatted on that path).
    """
    out: dict[int, Any] = {}
    for entry in _list(v, what):
        if type(entry) is not list or len(entry) != 2:
            raise InvalidMessageError(f"{what} entries must be [client_id, value] pairs")
        cid, val = entry
        if type(cid) is not int or not 0 <= cid <= MAX_CLIENT_ID:
            _int(cid, f"{what} client id")
        if cid in out:
            raise InvalidMessageError(f"{what} names client {cid} more than once")
        got = None if fast is None else fast(val)
        out[cid] = value(val, f"{what}[{cid}]") if got is None else got
    return out


def _keys_entry(v: Any, what: str) -> tuple[bytes, bytes, bytes]:
    if type(v) is not list or len(v) != 3:
        raise InvalidMessageError(f"{what} must be [c_public, s_public, signature]")
    return (_bytes(v[0], f"{what} c_public", KEY_BYTES), _bytes(v[1], f"{what} s_public", KEY_BYTES),
            _signature(v[2], f"{what} signature"))


def _keys_entry_fast(v: Any) -> tuple[bytes, bytes, bytes] | None:
    if type(v) is list and len(v) == 3:
        c, s, sig = v
        if (type(c) is bytes and len(c) == KEY_BYTES and type(s) is bytes and len(s) == KEY_BYTES
                and type(sig) is bytes and len(sig) in (0, SIGNATURE_BYTES)):
            return (c, s, sig)
    return None


def _signature(v: Any, what: str) -> bytes:
    b = _bytes(v, what, most=SIGNATURE_BYTES)
    if len(b) not in (0, SIGNATURE_BYTES):
        raise InvalidMessageError(f"{what} must be empty or {SIGNATURE_BYTES} bytes")
    return b


def _ciphertext(v: Any, what: str) -> bytes:
    return _bytes(v, what, most=MAX_CIPHERTEXT_BYTES)


def _share(v: Any, what: str) -> bytes:
    return _bytes(v, what, most=MAX_SHARE_BYTES)


def _ciphertext_fast(v: Any) -> bytes | None:
    return v if type(v) is bytes and len(v) <= MAX_CIPHERTEXT_BYTES else None


def _share_fast(v: Any) -> bytes | None:
    return v if type(v) is bytes and len(v) <= MAX_SHARE_BYTES else None


def _signature_bytes(v: Any, what: str) -> bytes:
    return _bytes(v, what, SIGNATURE_BYTES)


def _signature_fast(v: Any) -> bytes | None:
    return v if type(v) is bytes and len(v) == SIGNATURE_BYTES else None


def _optional_hash(v: Any, what: str) -> bytes:
    b = _bytes(v, what, most=HASH_BYTES)
    if len(b) not in (0, HASH_BYTES):
        raise InvalidMessageError(f"{what} must be empty or {HASH_BYTES} bytes")
    return b


class SharedIdMap(dict):  # type: ignore[type-arg]
    """An id map sent unchanged to many clients (the cohort, the revealed nonces): it travels as one
    msgpack blob, encoded once however many requests carry it. Do not change it once sent."""

    _packed: bytes | None = None

    def packed(self, encode: Any) -> bytes:
        if self._packed is None:
            self._packed = msgpack.packb(_pairs(self, encode), use_bin_type=True)
        return self._packed


def _shared(m: dict[int, Any], encode: Any = lambda x: x) -> bytes:
    return (m if isinstance(m, SharedIdMap) else SharedIdMap(m)).packed(encode)


def _parse_shared(v: Any, what: str, value: Any) -> SharedIdMap:
    blob = _bytes(v, what, most=MAX_MESSAGE_BYTES)
    try:
        raw = msgpack.unpackb(blob, raw=False, use_list=True, strict_map_key=True)
    except Exception as exc:  # msgpack raises several unrelated types for malformed input
        raise InvalidMessageError(f"{what} is not valid msgpack ({type(exc).__name__})") from None
    out = SharedIdMap(_id_map(raw, what, value))
    out._packed = blob
    return out


_HASH_RECORD = struct.Struct(f"<Q{HASH_BYTES}s{HASH_BYTES}s")  # client id, self-mask share hash, key share hash


def pack_hash_pairs(pairs: Mapping[int, tuple[bytes, bytes]]) -> bytes:
    """id -> (self-mask share hash, key share hash), as one blob of fixed-size records in id order
    (parsed with slicing, not as tens of thousands of msgpack objects)."""
    pack = _HASH_RECORD.pack
    return b"".join(pack(cid, *pairs[cid]) for cid in sorted(pairs))


def _hash_pairs(v: Any, what: str) -> dict[int, tuple[bytes, bytes]]:
    blob = _bytes(v, what, most=_HASH_RECORD.size * MAX_CLIENTS)
    if len(blob) % _HASH_RECORD.size:
        raise InvalidMessageError(f"{what} must be whole {_HASH_RECORD.size}-byte records")
    out: dict[int, tuple[bytes, bytes]] = {}
    for cid, b_hash, s_hash in _HASH_RECORD.iter_unpack(blob):
        if cid > MAX_CLIENT_ID or cid in out:
            raise InvalidMessageError(f"{what} names client {cid} out of range or more than once")
        out[cid] = (b_hash, s_hash)
    return out


def _cohort_entry(v: Any, what: str) -> tuple[bytes, bytes, bytes]:
    if type(v) is not list or len(v) != 3:
        raise InvalidMessageError(f"{what} must be [c_public, s_public, commitment]")
    return (_bytes(v[0], f"{what} c_public", KEY_BYTES), _bytes(v[1], f"{what} s_public", KEY_BYTES),
            _optional_hash(v[2], f"{what} commitment"))


def _nonce(v: Any, what: str) -> bytes:
    return _bytes(v, what, NONCE_BYTES)


def _pairs(d: dict[int, Any], encode: Any = lambda x: x) -> list:
    return [[k, encode(v)] for k, v in sorted(d.items())]


# --- messages ------------------------------------------------------------------------------------
_BODY_FIELDS: dict[type, tuple[str, ...]] = {}
_BODY_NAMES: dict[type, frozenset[str]] = {}


def body_fields(cls: type) -> tuple[str, ...]:
    """The body field names of a message class (cached: dataclasses.fields is slow)."""
    names = _BODY_FIELDS.get(cls)
    if names is None:
        names = _BODY_FIELDS[cls] = tuple(f.name for f in fields(cls)
                                          if f.name not in ("session_id", "client_id"))
    return names


@dataclass(frozen=True)
class Message:
    """Common header of every message."""

    kind: ClassVar[int]
    stage: ClassVar[Stage]
    session_id: bytes
    client_id: int

    def body(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in body_fields(type(self))}

    @classmethod
    def parse_body(cls, body: dict[str, Any]) -> dict[str, Any]:
        raise NotImplementedError

    def to_bytes(self) -> bytes:
        return msgpack.packb([PROTOCOL_VERSION, self.kind, self.session_id, int(self.stage),
                              self.client_id, self.body()], use_bin_type=True)


@dataclass(frozen=True)
class AdvertiseKeysRequest(Message):
    kind, stage = 1, Stage.ADVERTISE_KEYS
    config: dict[str, Any]

    @classmethod
    def parse_body(cls, body):  # the config is validated by SessionConfig.from_wire
        if type(body.get("config")) is not dict:
            raise InvalidMessageError("config must be a map")
        return {"config": body["config"]}


@dataclass(frozen=True)
class AdvertiseKeysReply(Message):
    """The two public keys; in active SecAgg+ the graph-seed commitment; in the active model a
    signature over them (and the session's first id)."""

    kind, stage = 2, Stage.ADVERTISE_KEYS
    c_public: bytes
    s_public: bytes
    commitment: bytes
    signature: bytes

    @classmethod
    def parse_body(cls, body):
        return {"c_public": _bytes(body.get("c_public"), "c_public", KEY_BYTES),
                "s_public": _bytes(body.get("s_public"), "s_public", KEY_BYTES),
                "commitment": _optional_hash(body.get("commitment"), "commitment"),
                "signature": _signature(body.get("signature"), "signature")}


@dataclass(frozen=True)
class GraphSeedRequest(Message):
    """Active SecAgg+: the cohort, fixed - every client that advertised, id -> (c_public, s_public,
    graph-seed commitment)."""

    kind, stage = 12, Stage.GRAPH_SEED
    cohort: dict[int, tuple[bytes, bytes, bytes]]

    def body(self):
        return {"cohort": _shared(self.cohort, list)}

    @classmethod
    def parse_body(cls, body):
        return {"cohort": _parse_shared(body.get("cohort"), "cohort", _cohort_entry)}


@dataclass(frozen=True)
class GraphSeedReply(Message):
    """Active SecAgg+: the client's graph-seed nonce, revealed."""

    kind, stage = 13, Stage.GRAPH_SEED
    nonce: bytes

    @classmethod
    def parse_body(cls, body):
        return {"nonce": _nonce(body.get("nonce"), "nonce")}


@dataclass(frozen=True)
class ShareKeysRequest(Message):
    """The advertised keys of the recipient's neighbours: id -> (c_public, s_public, signature),
    and in active SecAgg+ every revealed graph-seed nonce: id -> nonce."""

    kind, stage = 3, Stage.SHARE_KEYS
    keys: dict[int, tuple[bytes, bytes, bytes]]
    nonces: dict[int, bytes]

    def body(self):
        return {"keys": _pairs(self.keys, list), "nonces": _shared(self.nonces)}

    @classmethod
    def parse_body(cls, body):
        return {"keys": _id_map(body.get("keys"), "keys", _keys_entry, _keys_entry_fast),
                "nonces": _parse_shared(body.get("nonces"), "nonces", _nonce)}


@dataclass(frozen=True)
class ShareKeysReply(Message):
    """Encrypted shares for each neighbour: receiver id -> envelope. In the active model each
    envelope starts with the sender's commitments to the two shares inside (self-mask share hash,
    key share hash: 64 bytes), and the reply also carries the hashes of the shares the sender keeps
    (``own_hashes``), its self-mask seed commitment and a signature over all of them."""

    kind, stage = 4, Stage.SHARE_KEYS
    ciphertexts: dict[int, bytes]
    own_hashes: bytes
    seed_commitment: bytes
    signature: bytes

    def body(self):
        return {"ciphertexts": _pairs(self.ciphertexts), "own_hashes": self.own_hashes,
                "seed_commitment": self.seed_commitment, "signature": self.signature}

    @classmethod
    def parse_body(cls, body):
        own = _bytes(body.get("own_hashes"), "own_hashes", most=2 * HASH_BYTES)
        if len(own) not in (0, 2 * HASH_BYTES):
            raise InvalidMessageError(f"own_hashes must be empty or {2 * HASH_BYTES} bytes")
        return {"ciphertexts": _id_map(body.get("ciphertexts"), "ciphertexts", _ciphertext,
                                       _ciphertext_fast),
                "own_hashes": own,
                "seed_commitment": _optional_hash(body.get("seed_commitment"), "seed_commitment"),
                "signature": _signature(body.get("signature"), "signature")}


@dataclass(frozen=True)
class MaskedInputRequest(Message):
    """The envelopes neighbours addressed to the recipient: sender id -> envelope (in the active
    model prefixed by the sender's 64 bytes of share commitments; see :class:`ShareKeysReply`)."""

    kind, stage = 5, Stage.MASKED_INPUT
    ciphertexts: dict[int, bytes]

    def body(self):
        return {"ciphertexts": _pairs(self.ciphertexts)}

    @classmethod
    def parse_body(cls, body):
        return {"ciphertexts": _id_map(body.get("ciphertexts"), "ciphertexts", _ciphertext,
                                       _ciphertext_fast)}


@dataclass(frozen=True)
class MaskedInputReply(Message):
    """The masked vector, bit-packed at ``bits`` bits per value, and the senders whose shares this
    client refused (they did not decrypt, parse or match their sender's commitments)."""

    kind, stage = 6, Stage.MASKED_INPUT
    length: int
    bits: int
    data: bytes
    refused: tuple[int, ...]

    def body(self):
        return {"length": self.length, "bits": self.bits, "data": self.data, "refused": list(self.refused)}

    @classmethod
    def parse_body(cls, body):
        return {"length": _int(body.get("length"), "length", 1, MAX_VECTOR_LENGTH),
                "bits": _int(body.get("bits"), "bits", 1, 64),
                "data": _bytes(body.get("data"), "data", most=MAX_MESSAGE_BYTES),
                "refused": _ids(body.get("refused"), "refused")}


@dataclass(frozen=True)
class ConsistencyCheckRequest(Message):
    kind, stage = 7, Stage.CONSISTENCY_CHECK
    survivors: tuple[int, ...]

    def body(self):
        return {"survivors": list(self.survivors)}

    @classmethod
    def parse_body(cls, body):
        return {"survivors": _ids(body.get("survivors"), "survivors")}


@dataclass(frozen=True)
class ConsistencyCheckReply(Message):
    kind, stage = 8, Stage.CONSISTENCY_CHECK
    signature: bytes

    @classmethod
    def parse_body(cls, body):
        return {"signature": _bytes(body.get("signature"), "signature", SIGNATURE_BYTES)}


@dataclass(frozen=True)
class UnmaskingRequest(Message):
    """Which neighbours' masked inputs were accepted (reveal their self-mask shares) and which
    were not (reveal their key shares); in the active model also the consistency signatures."""

    kind, stage = 9, Stage.UNMASKING
    survivors: tuple[int, ...]
    dropped: tuple[int, ...]
    signatures: dict[int, bytes]

    def body(self):
        return {"survivors": list(self.survivors), "dropped": list(self.dropped),
                "signatures": _pairs(self.signatures)}

    @classmethod
    def parse_body(cls, body):
        return {"survivors": _ids(body.get("survivors"), "survivors"),
                "dropped": _ids(body.get("dropped"), "dropped"),
                "signatures": _id_map(body.get("signatures"), "signatures", _signature_bytes,
                                      _signature_fast)}


@dataclass(frozen=True)
class UnmaskingReply(Message):
    kind, stage = 10, Stage.UNMASKING
    self_mask_shares: dict[int, bytes]
    key_shares: dict[int, bytes]

    def body(self):
        return {"self_mask_shares": _pairs(self.self_mask_shares),
                "key_shares": _pairs(self.key_shares)}

    @classmethod
    def parse_body(cls, body):
        return {"self_mask_shares": _id_map(body.get("self_mask_shares"), "self_mask_shares",
                                            _share, _share_fast),
                "key_shares": _id_map(body.get("key_shares"), "key_shares", _share, _share_fast)}


Proof = tuple[int, bytes, dict[int, tuple[bytes, bytes]], bytes, dict[int, bytes]]
"""Why a client is to be excluded: (0 = self-mask / 1 = key shares, its seed commitment, its share
hashes holder -> (self-mask, key), its signature over them, the revealed shares holder -> share)."""


def _proof(v: Any, what: str) -> Proof:
    if type(v) is not list or len(v) != 5:
        raise InvalidMessageError(f"{what} must be [kind, seed_commitment, share_hashes, signature, shares]")
    return (_int(v[0], f"{what} kind", 0, 1), _bytes(v[1], f"{what} seed_commitment", HASH_BYTES),
            _hash_pairs(v[2], f"{what} share_hashes"), _signature_bytes(v[3], f"{what} signature"),
            _id_map(v[4], f"{what} shares", _share, _share_fast))


def _encode_proof(p: Proof) -> list:
    kind, seed_commit, hashes, signature, shares = p
    return [kind, seed_commit, pack_hash_pairs(hashes), signature, _pairs(shares)]


@dataclass(frozen=True)
class ExclusionRequest(Message):
    """Clients proven to have dealt shares that cannot rebuild what they committed to: liar ->
    proof. The recipient, a surviving neighbour, checks each proof and reveals its pairwise seed
    with the liar, so the server can take the liar out of the sum."""

    kind, stage = 14, Stage.EXCLUSION
    proofs: dict[int, Proof]

    def body(self):
        return {"proofs": _pairs(self.proofs, _encode_proof)}

    @classmethod
    def parse_body(cls, body):
        return {"proofs": _id_map(body.get("proofs"), "proofs", _proof)}


@dataclass(frozen=True)
class ExclusionReply(Message):
    """The recipient's pairwise seed with each proven liar: liar -> seed."""

    kind, stage = 15, Stage.EXCLUSION
    seeds: dict[int, bytes]

    def body(self):
        return {"seeds": _pairs(self.seeds)}

    @classmethod
    def parse_body(cls, body):
        return {"seeds": _id_map(body.get("seeds"), "seeds", _nonce)}


@dataclass(frozen=True)
class AbortMessage(Message):
    """The server gave up on the session (sent to every client still taking part)."""

    kind, stage = 11, Stage.UNMASKING  # stage is not checked for aborts
    reason: str

    @classmethod
    def parse_body(cls, body):
        return {"reason": _str(body.get("reason"), "reason")}


KINDS: dict[int, type[Message]] = {
    cls.kind: cls for cls in (AdvertiseKeysRequest, AdvertiseKeysReply, GraphSeedRequest, GraphSeedReply,
                              ShareKeysRequest, ShareKeysReply, MaskedInputRequest, MaskedInputReply,
                              ConsistencyCheckRequest, ConsistencyCheckReply, UnmaskingRequest,
                              UnmaskingReply, ExclusionRequest, ExclusionReply, AbortMessage)
}


def decode(data: bytes, *, max_bytes: int = MAX_MESSAGE_BYTES) -> Message:
    """Parse and validate one message (any kind)."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise InvalidMessageError(f"a message must be bytes, got {type(data).__name__}")
    if len(data) > max_bytes:
        raise InvalidMessageError(f"message of {len(data)} bytes exceeds the {max_bytes}-byte limit")
    try:
        raw = msgpack.unpackb(bytes(data), raw=False, use_list=True, strict_map_key=True)
    except Exception as exc:  # msgpack raises several unrelated types for malformed input
        raise InvalidMessageError(f"message is not valid msgpack ({type(exc).__name__}: {exc})"
                                  ) from None
    if type(raw) is not list or len(raw) != 6:
        raise InvalidMessageError("a message is an array [version, kind, session, stage, client, body]")
    version, kind, session_id, stage, client_id, body = raw
    if version != PROTOCOL_VERSION:
        raise InvalidMessageError(f"unsupported protocol version {version!r:.20}; this "
                                  f"implementation speaks version {PROTOCOL_VERSION}")
    if type(kind) is not int or kind not in KINDS:
        raise InvalidMessageError(f"unknown message kind {kind!r:.20}")
    cls = KINDS[kind]
    _bytes(session_id, "session_id", SESSION_ID_BYTES)
    if type(stage) is not int or not 0 <= stage <= _MAX_STAGE:
        _int(stage, "stage", 0, _MAX_STAGE)
    if cls is not AbortMessage and stage != cls.stage:
        raise ReplayError(f"{cls.__name__} carries stage {stage}, expected {int(cls.stage)}")
    if type(client_id) is not int or not 0 <= client_id <= MAX_CLIENT_ID:
        _int(client_id, "client_id")
    if type(body) is not dict:
        raise InvalidMessageError("message body must be a map")
    names = _BODY_NAMES.get(cls) or _BODY_NAMES.setdefault(cls, frozenset(body_fields(cls)))
    if body.keys() != names:
        raise InvalidMessageError(f"{cls.__name__} body must have exactly the fields "
                                  f"{sorted(names)}, got {sorted(map(str, body))}")
    return cls(session_id=session_id, client_id=client_id, **cls.parse_body(body))


def expect(message: Message, cls: type[Message], *, session_id: bytes | None,
           client_id: int) -> Message:
    """Check that ``message`` is a ``cls`` of this session for/from ``client_id``."""
    if session_id is not None and message.session_id != session_id:
        raise ReplayError(f"message belongs to session {message.session_id.hex()[:12]}..., not "
                          f"this one ({session_id.hex()[:12]}...): replayed or misrouted")
    if not isinstance(message, cls):
        raise ReplayError(f"expected {cls.__name__} at this point, got {type(message).__name__} "
                          "(another round, or replayed)")
    if message.client_id != client_id:
        raise InvalidMessageError(f"message is addressed to/from client {message.client_id}, "
                                  f"but arrived for client {client_id}")
    return message
