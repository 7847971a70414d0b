"""secagg.crypto: key agreement, HKDF, AES-GCM and Ed25519 wrappers."""

from __future__ import annotations

import os

import pytest
from hypothesis import given
from hypothesis import strategies as st

from secagg.core.crypto import (
    IdentityKey,
    KeyPair,
    decrypt,
    encrypt,
    pairwise_seed,
    share_key,
    verify,
)
from secagg.errors import AuthenticationError, InvalidMessageError, SeedError

SESSION = bytes(range(16))


def test_pairwise_seed_is_symmetric_and_purpose_bound():
    a, b = KeyPair.generate(), KeyPair.generate()
    s_ab = pairwise_seed(a, b.public, session_id=SESSION, me=1, peer=2)
    assert s_ab == pairwise_seed(b, a.public, session_id=SESSION, me=2, peer=1)
    assert len(s_ab) == 32
    assert s_ab != share_key(a, b.public, session_id=SESSION, me=1, peer=2)
    assert s_ab != pairwise_seed(a, b.public, session_id=bytes(16), me=1, peer=2)
    assert s_ab != pairwise_seed(a, b.public, session_id=SESSION, me=1, peer=3)


def test_private_key_round_trip():
    a = KeyPair.generate()
    assert KeyPair.from_private_bytes(a.private_bytes()).public == a.public
    with pytest.raises(SeedError):
        KeyPair.from_private_bytes(b"short")


def test_low_order_public_key_is_refused():
    with pytest.raises(InvalidMessageError):
        KeyPair.generate().agree(bytes(32))
    with pytest.raises(InvalidMessageError):
        KeyPair.generate().agree(b"\x01" * 31)


@given(st.binary(max_size=300), st.binary(max_size=40))
def test_aes_gcm_round_trip(plaintext, aad):
    key = os.urandom(32)
    assert decrypt(key, encrypt(key, plaintext, aad), aad) == plaintext


def test_aes_gcm_detects_tampering_and_wrong_aad():
    key = os.urandom(32)
    blob = encrypt(key, b"share", b"aad")
    with pytest.raises(AuthenticationError):
        decrypt(key, blob[:-1] + bytes([blob[-1] ^ 1]), b"aad")
    with pytest.raises(AuthenticationError):
        decrypt(key, blob, b"other")
    with pytest.raises(AuthenticationError):
        decrypt(key, blob[:10], b"aad")


def test_signatures():
    ident = IdentityKey()
    sig = ident.sign(b"msg")
    verify(ident.public, sig, b"msg")
    with pytest.raises(AuthenticationError):
        verify(ident.public, sig, b"other")
    with pytest.raises(AuthenticationError):
        verify(IdentityKey().public, sig, b"msg")
    with pytest.raises(AuthenticationError):
        verify(ident.public, sig[:10], b"msg")
