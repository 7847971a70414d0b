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
