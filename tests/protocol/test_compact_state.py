"""The compact pieces of server and client state: envelope store, masked-input spool, lazily
encoded requests, and the shared config rebuilt from the wire."""

from __future__ import annotations

import pytest

from secagg.errors import InvalidMessageError
from secagg.protocol.config import SessionConfig
from secagg.protocol.messages import AbortMessage
from secagg.protocol.server.envelopes import EnvelopeStore
from secagg.protocol.server.requests import Requests
from secagg.protocol.server.spool import MaskedInputSpool

SID = bytes(16)


def test_envelope_store_returns_what_each_sender_addressed_to_each_holder():
    store = EnvelopeStore()
    sent = {5: {9: b"a" * 3, 2: b"", 7: b"xyz" * 40}, 2: {5: b"q"}}
    for sender, envelopes in sent.items():
        store.add(sender, envelopes)
    assert set(store) == {5, 2} and len(store) == 2 and 5 in store and 9 not in store
    for sender, envelopes in sent.items():
        assert {h: store.get(sender, h) for h in envelopes} == envelopes
        assert dict(store.items(sender)) == envelopes
    with pytest.raises(KeyError):
        store.get(5, 3)  # no such holder
    with pytest.raises(KeyError):
        store.get(3, 5)  # no such sender
    heads = store.heads(2)
    assert dict(heads.items(5)) == {2: b"", 7: b"xy", 9: b"aa"}
    assert store.nbytes() > heads.nbytes()


def test_spool_gives_back_each_vector_and_forgets_on_close():
    spool = MaskedInputSpool()
    spool.put(3, b"\x01" * 1000)
    spool.put(1, b"")
    spool.put(8, bytes(range(256)))
    assert spool.get(8) == bytes(range(256)) and spool.get(3) == b"\x01" * 1000 and spool.get(1) == b""
    assert 3 in spool and len(spool) == 3
    spool.close()
    assert len(spool) == 0 and 3 not in spool
    with pytest.raises(KeyError):
        spool.get(3)
    spool.close()  # idempotent


def test_requests_encode_each_message_when_read():
    built = []

    def build(cid):
        built.append(cid)
        return AbortMessage(session_id=SID, client_id=cid, reason="x")

    requests = Requests([4, 1, 3], build)
    assert built == [] and list(requests) == [1, 3, 4] and len(requests) == 3 and 3 in requests
    assert requests[3] == requests[3] == AbortMessage(session_id=SID, client_id=3, reason="x").to_bytes()
    assert built == [3, 3]  # encoded on each read, never kept
    assert requests.message(4).client_id == 4
    with pytest.raises(KeyError):
        requests[2]


def _config(**changes) -> SessionConfig:
    base = dict(client_ids=(3, 10, 2**40), graph_kind="complete", degree=2, threshold=2, modulus_range=2**20,
                vector_length=8, clipping_range=1.0, quantization_range=2**8, session_id=SID, graph_seed=bytes(32))
    return SessionConfig(**{**base, **changes})


def test_a_config_from_the_wire_is_shared_but_only_between_identical_wire_forms():
    wire = _config().to_wire()
    first = SessionConfig.from_wire(dict(wire), SID)
    assert first == _config() and SessionConfig.from_wire(dict(wire), SID) is first  # one for all clients
    assert first.includes(2**40) and not first.includes(4)
    # equal as Python values, not as typed wire values: refused, never served from the cache
    for field, value in (("degree", 2.0), ("threshold", True), ("clipping_range", 1)):
        with pytest.raises(InvalidMessageError):
            SessionConfig.from_wire({**wire, field: value}, SID)
    for ids in (wire["client_ids"][:-1], list(_config().client_ids), wire["client_ids"][8:] + wire["client_ids"][:8]):
        with pytest.raises(InvalidMessageError):
            SessionConfig.from_wire({**wire, "client_ids": ids}, SID)
    other = SessionConfig.from_wire(dict(wire), bytes(15) + b"\x01")
    assert other is not first and other.session_id != first.session_id
