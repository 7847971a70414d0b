"""Messages: round trips, strict decoding, version/session/stage checks."""

from __future__ import annotations

import os

import msgpack
import pytest
from hypothesis import given
from hypothesis import strategies as st

from secagg.errors import InvalidMessageError, ReplayError
from secagg.protocol.messages import (
    PROTOCOL_VERSION,
    AbortMessage,
    AdvertiseKeysReply,
    ConsistencyCheckReply,
    ConsistencyCheckRequest,
    GraphSeedReply,
    GraphSeedRequest,
    MaskedInputReply,
    MaskedInputRequest,
    ShareKeysReply,
    ShareKeysRequest,
    UnmaskingReply,
    UnmaskingRequest,
    decode,
    expect,
)
from secagg.protocol.stage import Stage

S = os.urandom(16)
ids = st.lists(st.integers(0, 2**63 - 1), unique=True, max_size=8)


def samples():
    return [
        AdvertiseKeysReply(S, 3, os.urandom(32), os.urandom(32), b"", b""),
        AdvertiseKeysReply(S, 3, os.urandom(32), os.urandom(32), os.urandom(32), os.urandom(64)),
        GraphSeedRequest(S, 3, {3: (os.urandom(32), os.urandom(32), os.urandom(32))}),
        GraphSeedReply(S, 3, os.urandom(32)),
        ShareKeysRequest(S, 1, {2: (os.urandom(32), os.urandom(32), b"")}, {}),
        ShareKeysRequest(S, 1, {2: (os.urandom(32), os.urandom(32), os.urandom(64))}, {2: os.urandom(32)}),
        ShareKeysReply(S, 1, {2: os.urandom(150), 5: os.urandom(150)}, b"", b"", b""),
        ShareKeysReply(S, 1, {2: os.urandom(214)}, os.urandom(64), os.urandom(32), os.urandom(64)),
        MaskedInputRequest(S, 2, {1: os.urandom(150)}),
        MaskedInputReply(S, 2, 10, 13, os.urandom(17), ()),
        MaskedInputReply(S, 2, 10, 13, os.urandom(17), (4, 9)),
        ConsistencyCheckRequest(S, 2, (1, 2, 3)),
        ConsistencyCheckReply(S, 2, os.urandom(64)),
        UnmaskingRequest(S, 2, (1, 2), (3,), {1: os.urandom(64)}),
        UnmaskingReply(S, 2, {1: os.urandom(89)}, {3: os.urandom(89)}),
        AbortMessage(S, 2, "too few clients"),
    ]


@pytest.mark.parametrize("message", samples(), ids=lambda m: type(m).__name__)
def test_round_trip(message):
    assert decode(message.to_bytes()) == message


@pytest.mark.parametrize("message", samples(), ids=lambda m: type(m).__name__)
def test_every_truncation_is_invalid(message):
    data = message.to_bytes()
    for cut in range(0, len(data), max(1, len(data) // 25)):
        with pytest.raises(InvalidMessageError):
            decode(data[:cut])


@given(survivors=ids, dropped=ids)
def test_unmasking_request_round_trip(survivors, dropped):
    m = UnmaskingRequest(S, 7, tuple(survivors), tuple(dropped), {})
    assert decode(m.to_bytes()) == m


def envelope(*, version=PROTOCOL_VERSION, kind=8, session=S, stage=int(Stage.CONSISTENCY_CHECK), client=2,
             body=None):
    return msgpack.packb([version, kind, session, stage, client,
                          body if body is not None else {"signature": bytes(64)}], use_bin_type=True)


def test_strict_envelope():
    decode(envelope())
    with pytest.raises(InvalidMessageError, match="version"):
        decode(envelope(version=PROTOCOL_VERSION + 1))
    with pytest.raises(InvalidMessageError, match="kind"):
        decode(envelope(kind=99))
    with pytest.raises(InvalidMessageError):
        decode(envelope(session=b"short"))
    with pytest.raises(InvalidMessageError):
        decode(envelope(client=-1))
    with pytest.raises(InvalidMessageError):
        decode(envelope(client="2"))
    with pytest.raises(ReplayError):
        decode(envelope(stage=1))
    with pytest.raises(InvalidMessageError):
        decode(envelope(body={"signature": bytes(63)}))
    with pytest.raises(InvalidMessageError):
        decode(envelope(body={"signature": bytes(64), "extra": 1}))
    with pytest.raises(InvalidMessageError):
        decode(envelope(body={}))
    with pytest.raises(InvalidMessageError):
        decode(envelope() + b"\x00")  # trailing bytes


def test_bounded_sizes_and_types():
    v, stage = PROTOCOL_VERSION, int(Stage.MASKED_INPUT)
    body = {"ciphertexts": [[1, bytes(5000)]]}
    with pytest.raises(InvalidMessageError, match="at most"):
        decode(msgpack.packb([v, 5, S, stage, 1, body], use_bin_type=True))
    body = {"ciphertexts": [[1, b"x"], [1, b"y"]]}
    with pytest.raises(InvalidMessageError, match="more than once"):
        decode(msgpack.packb([v, 5, S, stage, 1, body], use_bin_type=True))
    body = {"length": 10, "bits": 65, "data": b"", "refused": []}
    with pytest.raises(InvalidMessageError):
        decode(msgpack.packb([v, 6, S, stage, 1, body], use_bin_type=True))
    body = {"length": 10.0, "bits": 8, "data": b"", "refused": []}
    with pytest.raises(InvalidMessageError):
        decode(msgpack.packb([v, 6, S, stage, 1, body], use_bin_type=True))
    body = {"length": 10, "bits": 8, "data": b"", "refused": [3, 3]}
    with pytest.raises(InvalidMessageError, match="more than once"):
        decode(msgpack.packb([v, 6, S, stage, 1, body], use_bin_type=True))


def test_expect_checks_session_kind_and_client():
    m = ConsistencyCheckReply(S, 2, bytes(64))
    expect(m, ConsistencyCheckReply, session_id=S, client_id=2)
    with pytest.raises(ReplayError, match="session"):
        expect(m, ConsistencyCheckReply, session_id=os.urandom(16), client_id=2)
    with pytest.raises(ReplayError):
        expect(m, UnmaskingReply, session_id=S, client_id=2)
    with pytest.raises(InvalidMessageError):
        expect(m, ConsistencyCheckReply, session_id=S, client_id=3)


def _decode_body(kind: int, stage: int, body: dict):
    return decode(msgpack.packb([PROTOCOL_VERSION, kind, S, int(stage), 1, body], use_bin_type=True))


K = bytes(32)


@pytest.mark.parametrize("entries,match", [
    ([[1, [K, K, b""]], [2]], r"\[client_id, value\] pairs"),
    ([(1, [K, K, b""])], None),  # msgpack turns tuples into lists: this one is fine
    ([[1, [K, K, b""]], "ab"], r"\[client_id, value\] pairs"),
    ([[-1, [K, K, b""]]], r"keys client id must be an int"),
    ([[True, [K, K, b""]]], r"keys client id must be an int"),
    ([[2**63, [K, K, b""]]], r"keys client id must be an int"),
    ([[1, [K, K, b""]], [1, [K, K, b""]]], r"names client 1 more than once"),
    ([[1, [K, K]]], r"keys\[1\] must be \[c_public, s_public, signature\]"),
    ([[1, (K, K, b"", b"")]], r"keys\[1\] must be \[c_public, s_public, signature\]"),
    ([[3, [K[:31], K, b""]]], r"keys\[3\] c_public must be exactly 32 bytes"),
    ([[3, [K, "k" * 32, b""]]], r"keys\[3\] s_public must be bytes"),
    ([[3, [K, K, bytes(63)]]], r"keys\[3\] signature must be empty or 64 bytes"),
    ([[3, [K, K, None]]], r"keys\[3\] signature must be bytes"),
])
def test_id_maps_name_the_bad_entry(entries, match):
    body = {"keys": entries, "nonces": msgpack.packb([])}
    if match is None:
        assert _decode_body(3, Stage.SHARE_KEYS, body).keys == {1: (K, K, b"")}
        return
    with pytest.raises(InvalidMessageError, match=match):
        _decode_body(3, Stage.SHARE_KEYS, body)


@pytest.mark.parametrize("body,match", [
    ({"self_mask_shares": [[1, bytes(257)]], "key_shares": []}, r"self_mask_shares\[1\] must be at most"),
    ({"self_mask_shares": [], "key_shares": [[4, "s"]]}, r"key_shares\[4\] must be bytes"),
    ({"self_mask_shares": [[1, b""], [1, b""]], "key_shares": []}, r"more than once"),
    ({"self_mask_shares": {}, "key_shares": []}, r"self_mask_shares must be a list"),
])
def test_share_maps_name_the_bad_entry(body, match):
    with pytest.raises(InvalidMessageError, match=match):
        _decode_body(10, Stage.UNMASKING, body)


@pytest.mark.parametrize("body,match", [
    ({"survivors": [1, 2, 2], "dropped": [], "signatures": []}, r"survivors names a client more"),
    ({"survivors": [1, -2], "dropped": [], "signatures": []}, r"survivors entry must be an int"),
    ({"survivors": [], "dropped": [1.0], "signatures": []}, r"dropped entry must be an int"),
    ({"survivors": [], "dropped": [], "signatures": [[1, bytes(63)]]},
     r"signatures\[1\] must be exactly 64 bytes"),
    ({"survivors": [], "dropped": [], "signatures": [[1, bytes(64)], [1, bytes(64)]]},
     r"names client 1 more than once"),
])
def test_unmasking_request_names_the_bad_entry(body, match):
    with pytest.raises(InvalidMessageError, match=match):
        _decode_body(9, Stage.UNMASKING, body)


@given(keys=st.dictionaries(st.integers(0, 2**63 - 1),
                            st.tuples(st.binary(min_size=32, max_size=32),
                                      st.binary(min_size=32, max_size=32),
                                      st.sampled_from([b"", bytes(64)])), max_size=6),
       shares=st.dictionaries(st.integers(0, 2**63 - 1), st.binary(max_size=256), max_size=6))
def test_id_map_round_trips(keys, shares):
    for m in (ShareKeysRequest(S, 1, keys, {}), ShareKeysReply(S, 1, shares, b"", b"", b""),
              UnmaskingReply(S, 1, shares, {k + 1 if k < 2**63 - 1 else 0: v
                                            for k, v in shares.items()})):
        assert decode(m.to_bytes()) == m
