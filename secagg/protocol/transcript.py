"""Byte strings that get signed or bound as associated data (one place, so both sides agree)."""

from __future__ import annotations

import struct
from collections.abc import Iterable

from .stage import Stage

_DOMAIN = b"secagg-v1/"


def advertise_transcript(session_id: bytes, client_id: int, c_public: bytes, s_public: bytes) -> bytes:
    """What a client signs over its advertised keys (active model)."""
    return _DOMAIN + b"advertise" + session_id + struct.pack("<Q", client_id) + c_public + s_public


def consistency_transcript(session_id: bytes, survivors: Iterable[int]) -> bytes:
    """What a client signs in the consistency check: the session and the sorted survivor set."""
    ids = sorted(survivors)
    return (_DOMAIN + b"consistency" + session_id + struct.pack("<Q", len(ids))
            + struct.pack(f"<{len(ids)}Q", *ids))


_SHARES = _DOMAIN + b"shares"
_SHARE_ROUTE = struct.Struct("<QQB")
_SHARE_STAGE = int(Stage.SHARE_KEYS)


def share_aad(session_id: bytes, sender: int, receiver: int) -> bytes:
    """Associated data of a share ciphertext: session, sender, receiver and stage."""
    return _SHARES + session_id + _SHARE_ROUTE.pack(sender, receiver, _SHARE_STAGE)
