"""One fuzz input through one of the Python decoders of untrusted bytes (see fuzz_decoders.py).

Shared by the Atheris target and by tests/fuzz_regressions, which replays the checked-in corpus
and every crash input kept in tests/fuzz/regressions/.
"""

from __future__ import annotations

import numpy as np
from google.protobuf.message import DecodeError

from secagg.core import shamir
from secagg.errors import ConfigError, InvalidMessageError, ShamirError, ShapeError
from secagg.net.proto import secagg_net_pb2
from secagg.protocol import messages, packing

DECODERS = ("message", "task", "shares", "packed")


def _message(data: bytes) -> None:
    try:
        msg = messages.decode(data)
    except (InvalidMessageError, ConfigError):
        return
    if messages.decode(msg.to_bytes()) != msg:  # what was accepted re-encodes to itself
        raise AssertionError("decode(encode(m)) != m")


def _task(data: bytes) -> None:
    task = secagg_net_pb2.Task()
    try:
        task.ParseFromString(data)
    except DecodeError:
        return
    _message(task.request)


def _shares(data: bytes) -> None:
    size = shamir.SHARE_BYTES
    blobs = [data[i : i + size] for i in range(0, len(data), size)]
    try:
        shares = shamir.shares_from_bytes(blobs)
    except ShamirError:
        shares = None
    secrets, failed = shamir.combine_encoded_many([blobs])
    if shares is None and not failed:
        raise AssertionError("combine_encoded_many accepted shares that shares_from_bytes refused")
    if shares is not None and [s.to_bytes() for s in shares] != blobs:
        raise AssertionError("Share.to_bytes(from_bytes(b)) != b")
    if secrets[0] is not None and len(secrets[0]) != shamir.SECRET_BYTES:
        raise AssertionError("a reconstructed secret has the wrong length")


def _packed(data: bytes) -> None:
    if len(data) < 2:
        return
    bits, length, body = data[0] % 66, data[1] * 3, data[2:]
    try:
        values = packing.unpack(body, length, bits)
    except (InvalidMessageError, ShapeError):
        return
    if packing.pack(values, bits) != body:
        raise AssertionError("pack(unpack(b)) != b")
    np.testing.assert_array_equal(values, packing.unpack_reference(body, length, bits))


def decode_one(data: bytes) -> None:
    """Run data[1:] through the decoder data[0] picks; raise only on a bug."""
    if not data:
        return
    (_message, _task, _shares, _packed)[data[0] % len(DECODERS)](data[1:])
