"""Rounds survive ordinary client faults - real processes on 127.0.0.1, every wait bounded, every
process killed by the ``procs`` fixture:

* a client killed right after advertising its keys and restarted while that stage is still open
  is held out of the session (its keys died with it) instead of poisoning it;
* two processes with one identity: the older one is fenced off, named, and exits 2;
* a client configured for another model shape is refused at registration and exits 2;
* when the run ends every client is told so and exits 0 saying why.
"""

from __future__ import annotations

import json
import signal

import pytest

pytest.importorskip("grpc")

from .conftest import wait_for  # noqa: E402
from .test_processes import FAST, _client_id, _log, _rounds  # noqa: E402


def _events(path, name):
    return [e for e in _log(path) if e.get("event") == name]


def _ended_ok(proc, out) -> None:
    assert proc.wait(120) == 0, out.read_text()[-2000:]
    assert "the server ended the run" in out.read_text()


def test_a_client_restarted_after_advertising_its_keys_does_not_poison_the_round(tmp_path, certs, procs):
    n = 5
    db, gate = tmp_path / "server.db", tmp_path / "gate"
    server, port = procs.server(certs, db, "--rounds", "1", "--clients-per-round", str(n),
                                "--min-clients", str(n), *FAST)
    # client 4 trains until the gate opens, so ADVERTISE_KEYS stays open; client 0 dies with
    # SIGKILL right after its keys were accepted
    clients = {u: procs.client(certs, port, u) for u in range(1, n - 1)}
    clients[n - 1] = procs.client(certs, port, n - 1, gate=gate)
    victim = procs.client(certs, port, 0, "--exit-after", "1:ADVERTISE_KEYS")
    assert victim.wait(120) == -signal.SIGKILL, "client 0 did not die after advertising its keys"
    restarted = procs.client(certs, port, 0, name="client0b")  # same state dir: same identity
    victim_id = _client_id(tmp_path, 0)
    # the restarted process asks for work while the stage is open: the server holds it out
    wait_for(lambda: any(e["client_id"] == victim_id for e in
                         _events(tmp_path / "server.jsonl", "client_held_out")), 120,
             "the restarted client to be held out of the session it had joined")
    gate.touch()
    assert server.wait(180) == 0, (tmp_path / "server.out").read_text()[-2000:]
    (rec,) = _rounds(db)
    others = {_client_id(tmp_path, u) for u in range(1, n)}
    assert rec.status == "completed", rec.abort_reason
    assert victim_id in rec.sampled and set(rec.included) == others
    assert not any("ciphertext failed" in line for u in range(n)
                   for line in (tmp_path / f"client{u}.jsonl").read_text().splitlines())
    # the run ended: every live client was told so and exits 0, saying so
    for u, p in clients.items():
        _ended_ok(p, tmp_path / f"client{u}.out")
    _ended_ok(restarted, tmp_path / "client0b.out")


def test_a_duplicate_identity_is_named_and_fenced_off(tmp_path, certs, procs):
    n = 5
    db = tmp_path / "server.db"
    server, port = procs.server(certs, db, "--rounds", "2", "--clients-per-round", str(n),
                                "--min-clients", str(n), *FAST)
    gate = tmp_path / "gate"  # client 4 trains until the gate opens: round 1 stays open meanwhile
    clients = {u: procs.client(certs, port, u, **({"gate": gate} if u == n - 1 else {})) for u in range(n)}
    wait_for(lambda: _client_id(tmp_path, 0), 120, "client 0 to register")
    dup_id = _client_id(tmp_path, 0)
    twin = procs.client(certs, port, 0, name="client0twin")  # a copy running on the same identity
    # one of the two processes is fenced off: it exits 2 with a one-line error naming the id
    wait_for(lambda: clients[0].poll() is not None or twin.poll() is not None, 120,
             "one of the two processes with one identity to stop")
    fenced, fenced_out = (clients[0], "client0.out") if clients[0].poll() is not None else (twin, "client0twin.out")
    survivor = twin if fenced is clients[0] else clients[0]
    assert fenced.wait(10) == 2
    err = (tmp_path / fenced_out).read_text()
    assert f"client {dup_id}: another process registered with this identity" in err, err
    gate.touch()
    assert server.wait(180) == 0, (tmp_path / "server.out").read_text()[-2000:]
    named = _events(tmp_path / "server.jsonl", "duplicate_identity")
    assert named and all(e["client_id"] == dup_id for e in named)
    recs = _rounds(db)
    others = {_client_id(tmp_path, u) for u in range(1, n)}
    assert recs and all(r.status == "completed" and others <= set(r.included) for r in recs), \
        [(r.round, r.status, r.abort_reason) for r in recs]
    survivor_out = "client0twin.out" if survivor is twin else "client0.out"
    _ended_ok(survivor, tmp_path / survivor_out)
    for u in range(1, n):
        _ended_ok(clients[u], tmp_path / f"client{u}.out")


def test_a_client_with_the_wrong_model_shape_is_refused_at_registration(tmp_path, certs, procs):
    n = 4
    db = tmp_path / "server.db"
    server, port = procs.server(certs, db, "--rounds", "1", "--clients-per-round", str(n + 1),
                                "--min-clients", str(n), *FAST)
    wrong = procs.client(certs, port, n, "--factors", "3")  # the server trains 4 factors
    clients = {u: procs.client(certs, port, u) for u in range(n)}
    assert wrong.wait(120) == 2
    err = (tmp_path / f"client{n}.out").read_text().strip()
    assert len(err.splitlines()) == 1 and "configured for" in err and "--factors 4" in err, err
    assert _client_id(tmp_path, n) is None  # never registered, never online, never sampled
    assert server.wait(180) == 0, (tmp_path / "server.out").read_text()[-2000:]
    (rec,) = _rounds(db)
    assert rec.status == "completed" and len(rec.sampled) == n and len(rec.included) == n
    refused = [e for e in _events(tmp_path / "server.jsonl", "request_rejected") if e["method"] == "Register"]
    assert refused and refused[0]["status"] == "FAILED_PRECONDITION"
    for u, p in clients.items():
        _ended_ok(p, tmp_path / f"client{u}.out")
    print(json.dumps({"rounds": [(r.round, r.status, len(r.included)) for r in _rounds(db)]}))
