"""Group commit of the replay counters: each save returns only after a write holding its counter
committed, concurrent saves share one write, and a failed write refuses every request in it."""

from __future__ import annotations

import threading

import pytest

pytest.importorskip("grpc")

from secagg.net.group_commit import GroupCommitter  # noqa: E402
from secagg.net.store import Store  # noqa: E402

from .conftest import wait_for  # noqa: E402


def test_saves_arriving_during_a_write_share_the_next_one():
    release = threading.Event()
    writes: list[dict[int, int]] = []

    def write_many(batch):
        writes.append(dict(batch))
        if len(writes) == 1:
            assert release.wait(120)

    gc = GroupCommitter(write_many)
    returned: list[int] = []
    leader = threading.Thread(target=lambda: (gc.save(0, 10), returned.append(0)))
    leader.start()
    wait_for(lambda: writes, 60, "the first write to start")
    followers = [threading.Thread(target=lambda k=k: (gc.save(k, 100 + k), returned.append(k)))
                 for k in range(1, 10)]
    for t in followers:
        t.start()
    wait_for(lambda: gc.pending() == 9, 60, "nine saves to queue")
    assert returned == []  # nobody returns before its counter is written
    release.set()
    for t in [leader, *followers]:
        t.join(60)
    assert writes == [{0: 10}, {k: 100 + k for k in range(1, 10)}]  # two writes for ten saves
    assert sorted(returned) == list(range(10))


def test_a_failed_write_fails_every_save_in_it_and_the_next_write_goes_on():
    calls = []

    def write_many(batch):
        calls.append(batch)
        if len(calls) == 1:
            raise OSError("disk full")

    gc = GroupCommitter(write_many)
    with pytest.raises(OSError, match="disk full"):
        gc.save(1, 5)
    gc.save(1, 6)  # the next batch is written
    assert calls == [{1: 5}, {1: 6}]


def test_store_saves_many_counters_in_one_transaction_never_lowering_them(tmp_path):
    store = Store(tmp_path / "s.db")
    store.save_counters({1: 50, 2: 70})
    store.save_counters({1: 40, 3: 9})
    assert store.last_counters() == {1: 50, 2: 70, 3: 9}
    store.close()


class _Counters:
    """A CounterStore recording each write."""

    def __init__(self, fail: bool = False) -> None:
        self.writes: list[dict[int, int]] = []
        self.fail = fail

    def last_counters(self) -> dict[int, int]:
        return {}

    def save_counter(self, client_id: int, counter: int) -> None:
        self.save_counters({client_id: counter})

    def save_counters(self, counters: dict[int, int]) -> None:
        if self.fail:
            raise OSError("disk full")
        self.writes.append(dict(counters))


def _signed(ident, cid: int, method: str = "Session/Submit"):
    from secagg.net.proto import secagg_net_pb2 as pb

    req = pb.SubmitRequest(round=1, reply=b"r")
    ident.sign_request(method, cid, req)
    return req


def test_a_batch_is_checked_message_by_message_with_one_durable_write():
    from secagg.errors import AuthenticationError, ReplayError
    from secagg.net.auth import ClientIdentity, RequestVerifier

    counters = _Counters()
    verifier = RequestVerifier(counters=counters)
    a, b = ClientIdentity(), ClientIdentity()
    good_a, good_b = _signed(a, 1), _signed(b, 2)
    forged = _signed(b, 1)  # b's signature presented as client 1's
    wrong_method = _signed(a, 1, "Submit")
    results = verifier.verify_many([("Session/Submit", good_a, a.public), ("Session/Submit", good_b, b.public),
                                    ("Session/Submit", forged, a.public),
                                    ("Session/Submit", wrong_method, a.public),
                                    ("Session/Submit", good_a, a.public)])  # good_a again: a replay
    assert results[:2] == [1, 2]
    assert isinstance(results[2], AuthenticationError) and isinstance(results[3], AuthenticationError)
    assert isinstance(results[4], ReplayError)
    assert counters.writes == [{1: good_a.auth.counter, 2: good_b.auth.counter}]  # one write for the batch
    again = verifier.verify_many([("Session/Submit", good_b, b.public)])
    assert isinstance(again[0], ReplayError) and len(counters.writes) == 1


def test_a_batch_whose_counter_write_failed_is_refused_whole():
    from secagg.net.auth import ClientIdentity, RequestVerifier

    verifier = RequestVerifier(counters=_Counters(fail=True))
    a, b = ClientIdentity(), ClientIdentity()
    results = verifier.verify_many([("Session/Submit", _signed(a, 1), a.public),
                                    ("Session/Submit", _signed(b, 2), b.public)])
    assert all(isinstance(r, OSError) for r in results)


def test_the_verifier_refuses_malformed_signatures_and_keys_with_its_cached_keys():
    from secagg.errors import AuthenticationError
    from secagg.net.auth import ClientIdentity, RequestVerifier

    verifier = RequestVerifier()
    a = ClientIdentity()
    short = _signed(a, 1)
    short.auth.signature = short.auth.signature[:63]
    bad_key = b"\xff" * 32  # not a point on the curve
    results = verifier.verify_many([("Session/Submit", short, a.public),
                                    ("Session/Submit", _signed(a, 1), bad_key),
                                    ("Session/Submit", _signed(a, 1), ClientIdentity().public)])
    assert all(isinstance(r, AuthenticationError) for r in results)
    assert verifier.verify_many([("Session/Submit", _signed(a, 1), a.public)]) == [1]  # the key, cached
    assert isinstance(verifier.verify_many([("Session/Submit", _signed(ClientIdentity(), 1), a.public)])[0],
                      AuthenticationError)
