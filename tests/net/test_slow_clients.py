"""A client that took its stage's task and is still working on it is not dropped after the bare
liveness window: with a 1 s window, clients silent for longer than that while computing their
SHARE_KEYS replies still complete round 1. (Before, that stage closed 1 s after they took their
tasks, with nobody replied, and the round aborted: at 400 clients the default 10 s window did the
same to clients still computing their SHARE_KEYS replies on a loaded machine.)"""

from __future__ import annotations

import json
import time
from pathlib import Path

from .conftest import wait_for
from .test_processes import _rounds

SLOW_CLIENT = Path(__file__).with_name("slow_client.py")


def _closed_events(log) -> list[dict]:
    return [r for r in map(json.loads, log.read_text().splitlines())
            if r["event"] in ("stage_closed", "round_aborted", "round_completed")]


def test_clients_working_longer_than_the_liveness_window_are_waited_for(procs, certs, tmp_path):
    db = tmp_path / "run.db"
    _, port = procs.server(certs, db, "--clients-per-round", "3", "--min-clients", "3", "--rounds", "1",
                           "--liveness-timeout", "1", "--timeout-per-client", "10")
    gate = tmp_path / "gate"
    for user in range(3):  # silent in SHARE_KEYS until the gate opens
        procs.client(certs, port, user, helper=(SLOW_CLIENT, gate))
    computing = wait_for(lambda: (lambda fs: fs if len(fs) == 3 else None)(
        list(tmp_path.glob("gate.computing.*"))), 120, "the 3 clients to take their SHARE_KEYS tasks")
    took = max(f.stat().st_mtime for f in computing)
    # the clients stay silent (computing) for well over the 1 s liveness window
    wait_for(lambda: time.time() > took + 3.0, 60, "3 s of silent work")
    log = tmp_path / "server.jsonl"
    assert [e.get("stage", e["event"]) for e in _closed_events(log)] == ["ADVERTISE_KEYS"], "the stage closed while its clients were working"
    gate.touch()
    rounds = wait_for(lambda: _rounds(db), 120, "round 1 to be recorded")
    assert rounds[0].status == "completed", rounds[0].abort_reason
    assert len(rounds[0].included) == 3
