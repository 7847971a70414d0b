"""Bytes between the roles: a client's upload and the server's encrypted aggregate.

Each message is msgpack: a header (format version, scheme, key fingerprint, round tag, vector
length) and the list of serialized TenSEAL ciphertexts. The fingerprint is SHA-256 of the public
context bytes the party was given, so a ciphertext made under another context or key is refused
by the server before it is added. It is a consistency check for honest parties, not an
authenticator: a client lying about it produces an aggregate the key holder detects as
undecryptable (see :mod:`secagg.he.keyholder`). A CRC-32 trailer over the whole message catches
bytes corrupted in transit (TenSEAL itself loads many bit-flipped ciphertexts without complaint);
it is six times cheaper than SHA-256 here, and no unkeyed checksum could stop deliberate tampering
anyway: authenticating the sender is the transport's job (TLS).
"""

from __future__ import annotations

import hashlib
import zlib
from dataclasses import dataclass

import msgpack

from ..errors import CiphertextError

FORMAT_VERSION = 1
SCHEMES = ("bfv", "ckks")
DIGEST_BYTES = 4


def _checksum(body: bytes) -> bytes:
    return zlib.crc32(body).to_bytes(DIGEST_BYTES, "big")


def _seal(body: bytes) -> bytes:
    return body + _checksum(body)


def fingerprint(public_context: bytes) -> bytes:
    """16-byte identifier of a public context (and so of its key)."""
    return hashlib.sha256(public_context).digest()[:16]


@dataclass(frozen=True)
class Upload:
    """One client's encrypted update."""

    scheme: str
    key_id: bytes
    round_tag: int
    dim: int
    ciphertexts: tuple[bytes, ...]

    def to_bytes(self) -> bytes:
        return _seal(msgpack.packb([FORMAT_VERSION, "upload", self.scheme, self.key_id,
                                    self.round_tag, self.dim, list(self.ciphertexts)],
                                   use_bin_type=True))


@dataclass(frozen=True)
class EncryptedAggregate:
    """The server's sum, sent to the key holder with the number of clients it covers."""

    scheme: str
    key_id: bytes
    round_tag: int
    dim: int
    num_clients: int
    ciphertexts: tuple[bytes, ...]

    def to_bytes(self) -> bytes:
        return _seal(msgpack.packb([FORMAT_VERSION, "aggregate", self.scheme, self.key_id,
                                    self.round_tag, self.dim, self.num_clients,
                                    list(self.ciphertexts)], use_bin_type=True))


def _unpack(data: object, kind: str, fields: int, max_bytes: int) -> list:
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise CiphertextError(f"expected the {kind} as bytes, got {type(data).__name__}")
    if len(data) > max_bytes:
        raise CiphertextError(f"{kind} of {len(data)} bytes exceeds the expected maximum "
                              f"{max_bytes}")
    data = bytes(data)
    body, digest = data[:-DIGEST_BYTES], data[-DIGEST_BYTES:]
    if len(data) <= DIGEST_BYTES or _checksum(body) != digest:
        raise CiphertextError(f"{kind} bytes are corrupt or truncated (checksum mismatch)")
    try:
        items = msgpack.unpackb(body, raw=False, strict_map_key=True,
                                max_bin_len=max_bytes, max_array_len=1 << 20)
    except (ValueError, TypeError, msgpack.ExtraData, msgpack.FormatError,
            msgpack.StackError) as exc:
        raise CiphertextError(f"{kind} bytes are corrupt: {exc}") from None
    if (not isinstance(items, list) or len(items) != fields or items[0] != FORMAT_VERSION
            or items[1] != kind):
        raise CiphertextError(f"bytes are not a version-{FORMAT_VERSION} {kind} message")
    if items[2] not in SCHEMES or not isinstance(items[3], bytes) or len(items[3]) != 16:
        raise CiphertextError(f"{kind} header is malformed")
    ints = items[4:-1]
    if any(isinstance(v, bool) or not isinstance(v, int) or v < 0 for v in ints):
        raise CiphertextError(f"{kind} header has a non-integer or negative field")
    cts = items[-1]
    if not isinstance(cts, list) or not all(isinstance(c, bytes) for c in cts):
        raise CiphertextError(f"{kind} does not carry a list of ciphertext byte strings")
    return items


def parse_upload(data: object, *, max_bytes: int) -> Upload:
    """Decode a client's upload (structure only; the ciphertexts are checked by the server)."""
    _, _, scheme, key_id, round_tag, dim, cts = _unpack(data, "upload", 7, max_bytes)
    return Upload(scheme, key_id, round_tag, dim, tuple(cts))


def parse_aggregate(data: object, *, max_bytes: int) -> EncryptedAggregate:
    """Decode the server's encrypted aggregate."""
    _, _, scheme, key_id, round_tag, dim, count, cts = _unpack(data, "aggregate", 8, max_bytes)
    return EncryptedAggregate(scheme, key_id, round_tag, dim, count, tuple(cts))
