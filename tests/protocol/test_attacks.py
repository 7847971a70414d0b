"""Bad input and attacks: each gets a specific exception or a clean exclusion, and the honest
clients still complete whenever at least t of them remain."""

from __future__ import annotations

import dataclasses
import os

import msgpack
import numpy as np
import pytest

import secagg
from secagg.errors import (
    AbortedError,
    AuthenticationError,
    ConfigError,
    ConsistencyError,
    DeadlineError,
    DTypeError,
    InvalidMessageError,
    ReplayError,
    ThresholdError,
    UnknownClientError,
    UnsafeRequestError,
)
from secagg.protocol.client import ClientState, SecAggClient
from secagg.protocol.config import SessionConfig
from secagg.protocol.messages import (
    PROTOCOL_VERSION,
    UnmaskingRequest,
    decode,
)
from secagg.protocol.server import SecAggServer
from secagg.protocol.stage import Stage

N, D, Q = 8, 32, 2**8
CLIENTS = range(N)


def updates(seed=0):
    rng = np.random.default_rng(seed)
    return {c: rng.uniform(-1, 1, D) for c in CLIENTS}


def run(tamper, *, protocol="secagg", threat_model="honest-but-curious", **kw):
    return secagg.simulate(updates(), protocol=protocol, threat_model=threat_model,
                           quantization_range=Q, tamper=tamper, **kw)


def check_sum(res, ups=None):
    ups = ups or updates()
    exact = np.sum([ups[c] for c in res.included], axis=0)
    assert np.max(np.abs(res.total - exact)) <= len(res.included) * 2 / (Q - 1) + 1e-9


def rewrite(message: bytes, **changes) -> bytes:
    """Re-encode a message with some envelope/body fields changed (a forging network)."""
    raw = msgpack.unpackb(message, raw=False)
    for key, value in changes.items():
        if key in ("version", "kind", "session", "stage", "client"):
            raw[["version", "kind", "session", "stage", "client"].index(key)] = value
        else:
            raw[5][key] = value
    return msgpack.packb(raw, use_bin_type=True)


def on(stage, direction, victim, edit):
    def tamper(s, d, cid, data):
        return edit(data) if (s is stage and d == direction and cid == victim) else data
    return tamper


# --- malformed, truncated, wrong version ---------------------------------------------------------
@pytest.mark.parametrize("stage", [Stage.ADVERTISE_KEYS, Stage.SHARE_KEYS, Stage.MASKED_INPUT,
                                   Stage.UNMASKING])
def test_truncated_reply_excludes_only_its_sender(stage):
    res = run(on(stage, "reply", 3, lambda b: b[: len(b) // 2]))
    assert isinstance(res.rejected[3], InvalidMessageError)
    if stage <= Stage.MASKED_INPUT:
        assert 3 not in res.included
    assert len(res.included) >= res.params.threshold
    check_sum(res)


def test_truncated_request_is_refused_by_client():
    res = run(on(Stage.SHARE_KEYS, "request", 2, lambda b: b[:-7]))
    assert isinstance(res.client_errors[2], InvalidMessageError)
    assert 2 not in res.included
    check_sum(res)


@pytest.mark.parametrize("garbage", [b"", b"\xc1", b"\x93\x01\x02\x03", os.urandom(64),
                                     msgpack.packb({"a": 1})])
def test_garbage_is_invalid_message(garbage):
    client = SecAggClient(0, np.zeros(4))
    with pytest.raises(InvalidMessageError):
        client.handle(garbage)
    assert client.state is ClientState.ADVERTISE_KEYS  # still usable


def test_wrong_protocol_version():
    res = run(on(Stage.MASKED_INPUT, "reply", 4, lambda b: rewrite(b, version=PROTOCOL_VERSION + 1)))
    assert isinstance(res.rejected[4], InvalidMessageError)
    assert "version" in str(res.rejected[4])
    assert 4 not in res.included
    check_sum(res)


def test_oversized_and_extra_fields_are_refused():
    res = run(on(Stage.ADVERTISE_KEYS, "reply", 1, lambda b: rewrite(b, extra=b"x")))
    assert isinstance(res.rejected[1], InvalidMessageError)
    with pytest.raises(InvalidMessageError, match="exceeds"):
        decode(b"\x00" * 100, max_bytes=10)


# --- other round, replay, other session ------------------------------------------------------------
def test_message_for_another_round_is_a_replay_error():
    captured = {}

    def grab(stage, direction, cid, data):
        captured[(stage, direction, cid)] = data
        return data

    run(grab)
    client = SecAggClient(0, updates()[0])
    with pytest.raises(ReplayError):
        client.handle(captured[(Stage.SHARE_KEYS, "request", 0)])  # R1 request to a new client
    # a message whose stage field lies about its kind
    with pytest.raises(ReplayError):
        decode(rewrite(captured[(Stage.SHARE_KEYS, "request", 0)], stage=int(Stage.MASKED_INPUT)))


def test_replay_from_an_earlier_session():
    old = {}

    def grab(stage, direction, cid, data):
        old[(stage, direction, cid)] = data
        return data

    run(grab)
    replayed = old[(Stage.MASKED_INPUT, "request", 5)]
    res = run(on(Stage.MASKED_INPUT, "request", 5, lambda b: replayed))
    assert isinstance(res.client_errors[5], ReplayError)
    assert 5 not in res.included
    check_sum(res)
    # and a replayed reply of an old session is refused by the server
    res = run(on(Stage.MASKED_INPUT, "reply", 6, lambda b: old[(Stage.MASKED_INPUT, "reply", 6)]))
    assert isinstance(res.rejected[6], ReplayError)
    check_sum(res)


def test_duplicate_reply_is_a_replay_error():
    cfg = SessionConfig(client_ids=(0, 1, 2), graph_kind="complete", degree=2, threshold=2,
                        modulus_range=2**12, vector_length=4, clipping_range=1.0,
                        quantization_range=16)
    server = SecAggServer(cfg)
    requests = server.start()
    reply = SecAggClient(0, np.zeros(4)).handle(requests[0])
    server.receive(0, reply)
    with pytest.raises(ReplayError):
        server.receive(0, reply)


# --- unknown and duplicated client ids -------------------------------------------------------------
def test_unknown_client_ids():
    cfg = SessionConfig(client_ids=(0, 1, 2), graph_kind="complete", degree=2, threshold=2,
                        modulus_range=2**12, vector_length=4, clipping_range=1.0,
                        quantization_range=16)
    server = SecAggServer(cfg)
    requests = server.start()
    reply = SecAggClient(0, np.zeros(4)).handle(requests[0])
    with pytest.raises(UnknownClientError):
        server.receive(99, reply)
    with pytest.raises(InvalidMessageError, match="client 0"):
        server.receive(1, reply)  # client 1 relaying client 0's message
    with pytest.raises(InvalidMessageError):  # a request addressed to someone else
        SecAggClient(7, np.zeros(4)).handle(requests[0])
    with pytest.raises(UnknownClientError):  # a config that does not list this client
        SecAggClient(7, np.zeros(4)).handle(rewrite(requests[0], client=7))


def test_server_injecting_a_foreign_client_is_refused():
    def inject(data):
        msg = decode(data)
        keys = dict(msg.keys)
        keys[999] = next(iter(keys.values()))
        return dataclasses.replace(msg, keys=keys).to_bytes()

    res = run(on(Stage.SHARE_KEYS, "request", 2, inject))
    assert isinstance(res.client_errors[2], UnknownClientError)
    check_sum(res)


def test_duplicated_ids_in_a_list_are_invalid():
    def dup(data):
        raw = msgpack.unpackb(data, raw=False)
        raw[5]["survivors"] = raw[5]["survivors"] + raw[5]["survivors"][:1]
        return msgpack.packb(raw, use_bin_type=True)

    res = run(on(Stage.UNMASKING, "request", 3, dup))
    assert isinstance(res.client_errors[3], InvalidMessageError)
    check_sum(res)


def test_two_clients_advertising_the_same_key():
    stolen = {}

    def copy_key(stage, direction, cid, data):
        if stage is Stage.ADVERTISE_KEYS and direction == "reply":
            if cid == 0:
                stolen["keys"] = decode(data)
            elif cid == 1:
                m = stolen["keys"]
                return rewrite(data, c_public=m.c_public, s_public=m.s_public)
        return data

    res = run(copy_key)
    assert isinstance(res.rejected[1], ConsistencyError)
    assert 1 not in res.included and 0 in res.included
    check_sum(res)


# --- masked vectors of the wrong length or dtype -------------------------------------------------
def test_masked_vector_wrong_length_or_width():
    def longer(data):
        m = decode(data)
        return dataclasses.replace(m, length=m.length + 8, data=m.data + bytes(m.bits)).to_bytes()

    res = run(on(Stage.MASKED_INPUT, "reply", 2, longer))
    assert isinstance(res.rejected[2], InvalidMessageError) and 2 not in res.included
    check_sum(res)
    res = run(on(Stage.MASKED_INPUT, "reply", 2, lambda b: rewrite(b, bits=32)))
    assert isinstance(res.rejected[2], InvalidMessageError) and 2 not in res.included
    res = run(on(Stage.MASKED_INPUT, "reply", 2, lambda b: rewrite(b, data=decode(b).data[:-1])))
    assert isinstance(res.rejected[2], InvalidMessageError) and 2 not in res.included
    res = run(on(Stage.MASKED_INPUT, "reply", 2, lambda b: rewrite(b, length="100")))
    assert isinstance(res.rejected[2], InvalidMessageError) and 2 not in res.included
    check_sum(res)


def test_client_input_of_wrong_dtype():
    with pytest.raises(DTypeError):
        SecAggClient(0, np.arange(4, dtype=np.int64))
    with pytest.raises(DTypeError):
        secagg.simulate({0: np.zeros(3), 1: np.zeros(3, dtype=np.uint32)})


# --- tampered share ciphertexts ----------------------------------------------------------------------
def test_tampered_share_ciphertext():
    def flip(data):
        raw = msgpack.unpackb(data, raw=False)
        first = raw[5]["ciphertexts"][0]
        first[1] = first[1][:-1] + bytes([first[1][-1] ^ 1])
        return msgpack.packb(raw, use_bin_type=True)

    res = run(on(Stage.MASKED_INPUT, "request", 4, flip))
    # client 4 refuses the tampered sender's shares and goes on; it is still summed
    assert res.refused[4] == frozenset({0}) and 4 not in res.client_errors
    assert 4 in res.included
    check_sum(res)


def test_share_ciphertext_redirected_to_another_receiver():
    """AAD binds the receiver: a ciphertext for client 1 handed to client 2 fails."""
    grabbed = {}

    def swap(stage, direction, cid, data):
        if stage is Stage.MASKED_INPUT and direction == "request":
            raw = msgpack.unpackb(data, raw=False)
            grabbed[cid] = raw
            if cid == 2 and 1 in grabbed:
                src = dict(map(tuple, grabbed[1][5]["ciphertexts"]))
                raw[5]["ciphertexts"] = [[s, src.get(s, c)] for s, c in raw[5]["ciphertexts"]]
                return msgpack.packb(raw, use_bin_type=True)
        return data

    res = run(swap)
    assert res.refused[2] and 2 not in res.client_errors  # refused, not decrypted
    check_sum(res)


# --- invalid signatures (active model) -----------------------------------------------------------
def test_invalid_advertise_signature_is_excluded():
    res = run(on(Stage.ADVERTISE_KEYS, "reply", 5, lambda b: rewrite(b, signature=bytes(64))),
              threat_model="active")
    assert isinstance(res.rejected[5], AuthenticationError)
    assert 5 not in res.included
    check_sum(res)


def test_forged_keys_from_server_are_detected():
    def forge(data):
        m = decode(data)
        keys = {p: (os.urandom(32), s, sig) for p, (c, s, sig) in m.keys.items()}
        return dataclasses.replace(m, keys=keys).to_bytes()

    res = run(on(Stage.SHARE_KEYS, "request", 0, forge), threat_model="active")
    assert isinstance(res.client_errors[0], AuthenticationError)
    check_sum(res)


def test_invalid_consistency_signature_is_excluded():
    res = run(on(Stage.CONSISTENCY_CHECK, "reply", 6, lambda b: rewrite(b, signature=bytes(64))),
              threat_model="active")
    assert isinstance(res.rejected[6], AuthenticationError)
    assert 6 in res.included  # its input arrived; it just cannot help unmask
    check_sum(res)


# --- a server asking for both shares of one client -------------------------------------------------
def _unmasking_edit(fn):
    def edit(data):
        m = decode(data)
        survivors, dropped = fn(m)
        return UnmaskingRequest(session_id=m.session_id, client_id=m.client_id,
                                survivors=tuple(survivors), dropped=tuple(dropped),
                                signatures=m.signatures).to_bytes()
    return edit


@pytest.mark.parametrize("threat_model", ["honest-but-curious", "active"])
def test_server_asking_for_both_shares(threat_model):
    both = _unmasking_edit(lambda m: (m.survivors, m.dropped + (m.survivors[-1],)))
    res = run(on(Stage.UNMASKING, "request", 1, both), threat_model=threat_model)
    assert isinstance(res.client_errors[1], UnsafeRequestError)
    check_sum(res)


def test_server_naming_the_client_itself_as_dropped():
    me_dropped = _unmasking_edit(lambda m: ([s for s in m.survivors if s != 2], m.dropped + (2,)))
    res = run(on(Stage.UNMASKING, "request", 2, me_dropped))
    assert isinstance(res.client_errors[2], UnsafeRequestError)
    check_sum(res)


def test_active_server_calling_a_signed_survivor_dropped():
    lie = _unmasking_edit(lambda m: ([s for s in m.survivors if s != 3] if m.client_id != 3
                                     else m.survivors, m.dropped + ((3,) if m.client_id != 3 else ())))
    res = run(on(Stage.UNMASKING, "request", 4, lie), threat_model="active")
    assert isinstance(res.client_errors[4], UnsafeRequestError)
    check_sum(res)


def manual_session(n=5, d=4, active=False):
    """Drive a complete-graph session by hand up to the unmasking requests."""
    from secagg.core.crypto import IdentityKey
    ids = {c: IdentityKey() for c in range(n)} if active else {}
    registry = {c: k.public for c, k in ids.items()}
    cfg = SessionConfig(client_ids=tuple(range(n)), graph_kind="complete", degree=n - 1,
                        threshold=3, modulus_range=2**12, vector_length=d, clipping_range=1.0,
                        quantization_range=16, threat_model="active" if active else
                        "honest-but-curious")
    server = SecAggServer(cfg, identity_registry=registry)
    clients = {c: SecAggClient(c, np.full(d, 0.25), identity=ids.get(c), identity_registry=registry)
               for c in range(n)}
    requests = server.start()
    while server.stage is not Stage.UNMASKING:
        for c, req in requests.items():
            if not (c == n - 1 and server.stage is Stage.MASKED_INPUT):  # last client drops
                server.receive(c, clients[c].handle(req))
        requests = server.advance()
    return server, clients, requests


def test_client_never_reveals_both_shares_of_one_peer():
    server, clients, requests = manual_session()
    reply = decode(clients[0].handle(requests[0]))
    assert set(reply.self_mask_shares) == {0, 1, 2, 3}
    assert set(reply.key_shares) == {4}
    assert not set(reply.self_mask_shares) & set(reply.key_shares)
    # a second request (e.g. with the roles of 1 and 4 swapped) is refused outright
    m = decode(requests[0])
    swapped = UnmaskingRequest(session_id=m.session_id, client_id=0, survivors=(0, 2, 3, 4),
                               dropped=(1,), signatures={}).to_bytes()
    with pytest.raises(ReplayError):
        clients[0].handle(swapped)
    assert clients[0].ctx.revealed == {0: "self-mask", 1: "self-mask", 2: "self-mask",
                                       3: "self-mask", 4: "key"}


def test_unmasking_request_naming_a_peer_the_client_holds_nothing_for():
    server, clients, requests = manual_session()
    m = decode(requests[1])
    bogus = UnmaskingRequest(session_id=m.session_id, client_id=1, survivors=m.survivors,
                             dropped=m.dropped + (77,), signatures={}).to_bytes()
    with pytest.raises(UnknownClientError):
        clients[1].handle(bogus)
    assert clients[1].state is ClientState.ABORTED


# --- different survivor sets to different clients (active model) ---------------------------------
def test_different_survivor_sets_are_caught():
    """The server shows client 0 a survivor set without client 7, everyone else the full set,
    then forwards client 0's signature to the others: they refuse to unmask."""
    signatures = {}

    def split_view(stage, direction, cid, data):
        if stage is Stage.CONSISTENCY_CHECK and direction == "request" and cid == 0:
            return rewrite(data, survivors=[s for s in decode(data).survivors if s != 7])
        if stage is Stage.CONSISTENCY_CHECK and direction == "reply":
            signatures[cid] = decode(data).signature
        if stage is Stage.UNMASKING and direction == "request" and cid != 0:
            m = decode(data)
            sigs = dict(m.signatures)
            sigs[0] = signatures[0]
            return UnmaskingRequest(session_id=m.session_id, client_id=cid, survivors=m.survivors,
                                    dropped=m.dropped, signatures=sigs).to_bytes()
        return data

    with pytest.raises(ThresholdError):
        run(split_view, threat_model="active")


def test_different_survivor_sets_detected_by_server_and_excluded():
    """An honest server that got a signature over a different set excludes that client."""
    def other_set(data):
        return rewrite(data, survivors=[s for s in decode(data).survivors if s != 7])

    res = run(on(Stage.CONSISTENCY_CHECK, "request", 0, other_set), threat_model="active")
    assert isinstance(res.rejected[0], AuthenticationError)
    check_sum(res)


def test_client_refuses_unmasking_for_a_set_it_did_not_sign():
    res = run(on(Stage.UNMASKING, "request", 0, _unmasking_edit(
        lambda m: ([s for s in m.survivors if s != 7], m.dropped))), threat_model="active")
    assert isinstance(res.client_errors[0], ConsistencyError)
    check_sum(res)


# --- deadlines and thresholds -------------------------------------------------------------------
def test_late_reply_is_rejected_and_the_server_moves_on():
    now = [0.0]
    cfg = SessionConfig(client_ids=(0, 1, 2, 3), graph_kind="complete", degree=3, threshold=2,
                        modulus_range=2**12, vector_length=4, clipping_range=1.0,
                        quantization_range=16)
    server = SecAggServer(cfg, clock=lambda: now[0], stage_timeout=10.0)
    clients = {c: SecAggClient(c, np.full(4, 0.5)) for c in range(4)}
    requests = server.start()
    for c in (0, 1, 2):
        server.receive(c, clients[c].handle(requests[c]))
    assert not server.ready()
    now[0] = 11.0
    assert server.ready()
    with pytest.raises(DeadlineError):
        server.receive(3, clients[3].handle(requests[3]))
    while requests:
        requests = server.advance()
        for c, req in requests.items():
            server.receive(c, clients[c].handle(req))
    assert server.result.included == frozenset({0, 1, 2})


@pytest.mark.parametrize("stage", [Stage.ADVERTISE_KEYS, Stage.SHARE_KEYS, Stage.MASKED_INPUT,
                                   Stage.UNMASKING])
def test_threshold_error_names_stage_and_count(stage):
    schedule = {c: stage for c in range(5)}
    with pytest.raises(ThresholdError) as info:
        secagg.simulate(updates(), protocol="secagg", dropouts=schedule, threshold=4,
                        quantization_range=Q)
    assert info.value.stage == stage.name
    assert info.value.survivors == 3 and info.value.threshold == 4
    assert stage.name in str(info.value) and "3" in str(info.value)


def test_abort_reaches_the_clients():
    cfg = SessionConfig(client_ids=(0, 1, 2, 3), graph_kind="complete", degree=3, threshold=3,
                        modulus_range=2**12, vector_length=4, clipping_range=1.0,
                        quantization_range=16)
    server = SecAggServer(cfg)
    clients = {c: SecAggClient(c, np.zeros(4)) for c in range(4)}
    requests = server.start()
    for c in (0, 1):
        server.receive(c, clients[c].handle(requests[c]))
    with pytest.raises(ThresholdError) as info:
        server.advance()
    aborts = server.abort(str(info.value))
    assert set(aborts) == {0, 1}
    for c, message in aborts.items():
        assert clients[c].handle(message) is None
        assert clients[c].state is ClientState.ABORTED
        with pytest.raises(AbortedError):
            clients[c].handle(requests[c])


def test_active_clients_refuse_a_too_low_threshold():
    # a caller asking for one is told so before any work (not an abort with "0 clients replied")
    with pytest.raises(ConfigError, match="threshold 3 is too low for the active threat model"):
        secagg.simulate(updates(), protocol="secagg", threat_model="active", threshold=3,
                        quantization_range=Q)
    # a server that proposes one anyway is refused by every honest client
    cfg = SessionConfig(client_ids=tuple(CLIENTS), graph_kind="complete", degree=N - 1,
                        threshold=3, modulus_range=2**12, vector_length=D, clipping_range=1.0,
                        quantization_range=16, threat_model="active")
    from secagg.core.crypto import IdentityKey
    ident = IdentityKey()
    server = SecAggServer(cfg, identity_registry={c: ident.public for c in CLIENTS})
    client = SecAggClient(0, np.zeros(D), identity=ident)
    with pytest.raises(UnsafeRequestError, match="too low"):
        client.handle(server.start()[0])
    assert client.state is ClientState.ABORTED
