"""The protocol's cryptographic primitives, all from the ``cryptography`` package.

* X25519 key agreement: every client holds two key pairs per session, ``c`` (encrypts the Shamir
  shares routed through the server) and ``s`` (derives the pairwise mask seeds).
* HKDF-SHA256 turns a raw shared secret into a 32-byte key. ``salt`` is the session id and ``info``
  names the purpose and the (unordered) pair of client ids, so a seed from one session, purpose or
  pair is useless for any other.
* AES-256-GCM with a random 96-bit nonce (``nonce || ciphertext || tag``); the associated data binds
  session, sender, receiver and stage (built by the protocol, see ``share_aad``).
* Ed25519 signatures for the active threat model (advertised keys, consistency check).

Nothing here knows about protocol rounds; failures map to :mod:`secagg.errors`.
"""

from __future__ import annotations

import functools
import os
import struct

from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from cryptography.hazmat.primitives.asymmetric.x25519 import (
    X25519PrivateKey,
    X25519PublicKey,
)
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from ..errors import AuthenticationError, InvalidMessageError, SeedError

KEY_BYTES = 32
NONCE_BYTES = 12
TAG_BYTES = 16
SIGNATURE_BYTES = 64

PURPOSE_MASK = b"pairwise-mask-seed"
PURPOSE_SHARES = b"share-encryption-key"

_RAW = serialization.Encoding.Raw
_RAW_PUB = serialization.PublicFormat.Raw
_RAW_PRIV = serialization.PrivateFormat.Raw
_NO_ENC = serialization.NoEncryption()
_SHA256 = hashes.SHA256()
_PAIR = struct.Struct("<QQ")


def random_seed() -> bytes:
    """32 bytes from the OS CSPRNG."""
    return os.urandom(KEY_BYTES)


# --- X25519 -----------------------------------------------------------------------------------
@functools.lru_cache(maxsize=4096)
def _x25519_public(raw: bytes) -> X25519PublicKey:
    """Parse a raw public key once per process (a session's keys are used by every neighbour)."""
    return X25519PublicKey.from_public_bytes(raw)


class KeyPair:
    """An X25519 key pair; ``public`` is the 32-byte raw public key."""

    __slots__ = ("_private", "public")

    def __init__(self, private: X25519PrivateKey) -> None:
        self._private = private
        self.public = private.public_key().public_bytes(_RAW, _RAW_PUB)

    @classmethod
    def generate(cls) -> KeyPair:
        return cls(X25519PrivateKey.generate())

    @classmethod
    def from_private_bytes(cls, raw: bytes) -> KeyPair:
        """Rebuild a key pair from its 32 raw private bytes (e.g. after Shamir reconstruction)."""
        if not isinstance(raw, (bytes, bytearray)) or len(raw) != KEY_BYTES:
            raise SeedError(f"an X25519 private key is exactly {KEY_BYTES} bytes")
        return cls(X25519PrivateKey.from_private_bytes(bytes(raw)))

    def private_bytes(self) -> bytes:
        """The 32 raw private bytes (secret: only ever Shamir-shared)."""
        return self._private.private_bytes(_RAW, _RAW_PRIV, _NO_ENC)

    def agree(self, peer_public: bytes) -> bytes:
        """The raw X25519 shared secret with ``peer_public``."""
        if not isinstance(peer_public, (bytes, bytearray)) or len(peer_public) != KEY_BYTES:
            raise InvalidMessageError(f"an X25519 public key is exactly {KEY_BYTES} bytes")
        try:
            return self._private.exchange(_x25519_public(bytes(peer_public)))
        except ValueError:  # low-order point: the shared secret would be all zeros
            raise InvalidMessageError("peer X25519 public key is a low-order point") from None


def derive_key(shared_secret: bytes, *, purpose: bytes, session_id: bytes, a: int, b: int) -> bytes:
    """HKDF-SHA256(shared, salt=session_id, info=purpose || min(a,b) || max(a,b)) -> 32 bytes."""
    lo, hi = (a, b) if a <= b else (b, a)
    info = b"secagg-v1/" + purpose + _PAIR.pack(lo, hi)
    return HKDF(algorithm=_SHA256, length=KEY_BYTES, salt=session_id, info=info).derive(
        shared_secret)


def pairwise_seed(keys: KeyPair, peer_public: bytes, *, session_id: bytes, me: int, peer: int) -> bytes:
    """The 32-byte PRG seed both ``me`` and ``peer`` derive for their pairwise mask."""
    return derive_key(keys.agree(peer_public), purpose=PURPOSE_MASK, session_id=session_id,
                      a=me, b=peer)


def share_key(keys: KeyPair, peer_public: bytes, *, session_id: bytes, me: int, peer: int) -> bytes:
    """The AES-256-GCM key ``me`` and ``peer`` use for the shares routed through the server."""
    return derive_key(keys.agree(peer_public), purpose=PURPOSE_SHARES, session_id=session_id,
                      a=me, b=peer)


# --- AES-256-GCM -------------------------------------------------------------------------------
def encrypt(key: bytes, plaintext: bytes, aad: bytes) -> bytes:
    """``nonce || ciphertext || tag`` with a fresh random nonce."""
    nonce = os.urandom(NONCE_BYTES)
    return nonce + AESGCM(key).encrypt(nonce, plaintext, aad)


def decrypt(key: bytes, blob: bytes, aad: bytes) -> bytes:
    """Inverse of :func:`encrypt`; :class:`AuthenticationError` if anything was altered."""
    if len(blob) < NONCE_BYTES + TAG_BYTES:
        raise AuthenticationError("ciphertext is shorter than nonce + tag")
    try:
        return AESGCM(key).decrypt(blob[:NONCE_BYTES], blob[NONCE_BYTES:], aad)
    except InvalidTag:
        raise AuthenticationError("ciphertext failed authentication (tampered, or wrong sender, "
                                  "receiver, session or stage)") from None


# --- Ed25519 -----------------------------------------------------------------------------------
class IdentityKey:
    """A long-term Ed25519 signing key, registered with the server before any session."""

    __slots__ = ("_private", "public")

    def __init__(self, private: Ed25519PrivateKey | None = None) -> None:
        self._private = private or Ed25519PrivateKey.generate()
        self.public = self._private.public_key().public_bytes(_RAW, _RAW_PUB)

    def sign(self, data: bytes) -> bytes:
        return self._private.sign(data)


def verify(public: bytes, signature: bytes, data: bytes) -> None:
    """Raise :class:`AuthenticationError` unless ``signature`` is ``public``'s over ``data``."""
    if len(signature) != SIGNATURE_BYTES:
        raise AuthenticationError(f"an Ed25519 signature is exactly {SIGNATURE_BYTES} bytes")
    try:
        Ed25519PublicKey.from_public_bytes(public).verify(signature, data)
    except (InvalidSignature, ValueError):
        raise AuthenticationError("Ed25519 signature did not verify") from None
