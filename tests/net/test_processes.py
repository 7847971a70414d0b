"""Real processes on 127.0.0.1: client processes killed with SIGKILL at random protocol stages, the
server killed mid-round and restarted, rounds below threshold aborting cleanly. Every process is
killed by the ``procs`` fixture at the end; every wait is bounded."""

from __future__ import annotations

import json
import os
import random
import signal
import socket
import sqlite3

import numpy as np
import pytest

pytest.importorskip("grpc")

from secagg.net.store import Store  # noqa: E402
from secagg.protocol.stage import Stage  # noqa: E402
from secagg.rec.model import ItemModel  # noqa: E402
from secagg.rec.optim import FedAvg  # noqa: E402
from secagg.rec.server import RecServer  # noqa: E402

from .conftest import N_ITEMS_ARGS, TRAINING_ARGS, wait_for  # noqa: E402
from .helpers import check_exact_sums  # noqa: E402

N_CLIENTS = int(os.environ.get("SECAGG_NET_CLIENTS", "20"))
# Dead clients are noticed by their silence (the liveness window), so the deadlines only bound a
# stage when something is wrong: generous, never reached by a slow but honest client.
FAST = ["--stage-timeout", "60", "--training-timeout", "60", "--liveness-timeout", "2.5"]


def _rounds(db):
    if not db.exists():
        return []
    try:
        s = Store(db)
    except sqlite3.OperationalError:
        return []
    try:
        return s.rounds()
    finally:
        s.close()


def _log(path):
    if not path.exists():
        return []
    out = []
    for line in path.read_text().splitlines():
        try:
            out.append(json.loads(line))
        except json.JSONDecodeError:
            pass  # a line cut by SIGKILL
    return out


def test_killed_clients_round_completes_with_exact_survivor_sum(tmp_path, certs, procs):
    """~30% of the clients SIGKILL themselves at random stages of round 1; the round completes
    with the exact sum of the survivors' inputs; the killed clients restart and rejoin round 2."""
    n = N_CLIENTS
    rng = random.Random(int.from_bytes(os.urandom(4), "little"))
    victims = rng.sample(range(n), max(1, round(0.3 * n)))
    stages = {u: rng.choice([Stage.ADVERTISE_KEYS, Stage.SHARE_KEYS, Stage.MASKED_INPUT, Stage.CONSISTENCY_CHECK,
                             Stage.UNMASKING]) for u in victims}
    db, dump = tmp_path / "server.db", tmp_path / "dump"
    server, port = procs.server(certs, db, "--rounds", "2", "--clients-per-round", str(n),
                                "--min-clients", str(n), "--dropout-fraction", "0.4", *FAST)
    clients = {u: procs.client(certs, port, u, *(["--exit-at", f"1:{stages[u].name}"] if u in stages else []),
                               dump=dump)
               for u in range(n)}
    wait_for(lambda: len(_rounds(db)) >= 1, 180, f"round 1 (victims at stages {stages})")
    for u in victims:  # every victim killed itself with SIGKILL
        assert clients[u].wait(60) == -signal.SIGKILL, f"client {u} did not die at its stage"
    for u in victims:  # they restart with their saved identity and rejoin
        clients[u] = procs.client(certs, port, u, dump=dump)
    assert server.wait(180) == 0, "server did not finish round 2"
    recs = _rounds(db)  # --rounds 2 counts completed rounds: an aborted round 1 is followed by two more
    assert [r.round for r in recs] == list(range(1, len(recs) + 1))
    assert [r.status for r in recs[1:]] == ["completed"] * (len(recs) - 1) and len(recs) <= 3
    ids = {u: json.loads((tmp_path / f"client{u}" / "client.json").read_text())["client_id"] for u in range(n)}
    r1 = recs[0]
    survivors_sent_input = {ids[u] for u in range(n) if stages.get(u, max(Stage)) > Stage.MASKED_INPUT}
    if r1.status == "completed":
        assert set(r1.included) == survivors_sent_input, stages
    else:
        assert "ThresholdError" in r1.abort_reason
    print(json.dumps({"clients": n, "victim_stages": {ids[u]: stages[u].name for u in victims},
                      "rounds": [(r.round, r.status, len(r.sampled), len(r.included)) for r in recs]}))
    assert recs[1].status == "completed" and len(recs[1].included) >= n - len(victims)
    assert check_exact_sums(db, dump) == sum(r.status == "completed" for r in recs)


def test_round_below_threshold_aborts_and_the_next_round_proceeds(tmp_path, certs, procs):
    n = 4
    db = tmp_path / "server.db"
    server, port = procs.server(certs, db, "--rounds", "2", "--clients-per-round", str(n),
                                "--min-clients", "3", *FAST)
    procs_ = {u: procs.client(certs, port, u, *(["--exit-at", "1:SHARE_KEYS"] if u < 3 else [])) for u in range(n)}
    wait_for(lambda: len(_rounds(db)) >= 1, 180, "round 1")
    r1 = _rounds(db)[0]
    assert r1.status == "aborted" and "ThresholdError" in r1.abort_reason and r1.included == []
    assert r1.version_after == r1.version_before
    # Round 1 starts as soon as min_clients (3) are online, so a client that registered later
    # is not in it: a victim outside round 1 never reaches its exit point and keeps serving.
    # Restart exactly the victims that died, once they have exited: a second process on a live
    # client's state directory would answer round 2 under the same identity with other keys.
    ids = {u: _client_id(tmp_path, u) for u in range(n)}
    died = [u for u in range(3) if ids[u] in r1.sampled]
    assert died, (ids, r1.sampled)  # any 3 of the 4 clients include a victim
    for u in died:
        assert procs_[u].wait(60) == -signal.SIGKILL, f"client {u} did not die at its stage"
    for u in range(n):
        if u not in died:
            assert procs_[u].poll() is None, f"client {u} was not in round 1 but exited"
    for u in died:
        procs_[u] = procs.client(certs, port, u)
    assert server.wait(180) == 0
    r2 = _rounds(db)[1]
    assert r2.status == "completed" and r2.version_before == r1.version_before


def _client_id(root, user: int) -> int | None:
    """The id the server gave client ``user`` (None if it has not registered yet)."""
    path = root / f"client{user}" / "client.json"
    return json.loads(path.read_text())["client_id"] if path.exists() else None


def _free_port() -> int:
    """A free port below the ephemeral range, so that while the server is down no client's
    outgoing connection can be given it as its own source port (a TCP self-connect) and hold it."""
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as fh:
            low = int(fh.read().split()[0])
    except (OSError, ValueError, IndexError):
        low = 0
    rng = random.Random()
    for _ in range(200 if low > 20_000 else 0):
        port = rng.randrange(10_000, low)
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_server_killed_mid_round_resumes_without_losing_or_repeating_rounds(tmp_path, certs, procs):
    n = 5
    db = tmp_path / "server.db"
    port = _free_port()
    args = ["--rounds", "4", "--clients-per-round", str(n), "--min-clients", str(n), *FAST,
            "--keep-round-sums", "100"]  # every round's sum, to replay the model below
    server = _server_on(procs, certs, db, port, args, "server1")
    for u in range(n):
        procs.client(certs, port, u)
    # kill -9 once round 2 is recorded and round 3 has started
    wait_for(lambda: len(_rounds(db)) >= 2 and any(
        e.get("event") == "round_started" and e.get("round") == 3 for e in _log(tmp_path / "server1.jsonl")),
        180, "round 3 to start")
    os.killpg(server.pid, signal.SIGKILL)
    server.wait(60)
    done_before = len(_rounds(db))
    server = _server_on(procs, certs, db, port, args, "server2")
    assert server.wait(180) == 0, "restarted server did not finish"
    recs = _rounds(db)
    assert [r.round for r in recs] == [1, 2, 3, 4]
    # the clients reconnected with back-off to the restarted server and all rejoined
    assert recs[-1].status == "completed" and len(recs[-1].included) == n
    errors = [e for u in range(n) for e in _log(tmp_path / f"client{u}.jsonl") if e.get("event") == "rpc_error"]
    assert any(e["status"] == "UNAVAILABLE" for e in errors)
    resumed = [e for e in _log(tmp_path / "server2.jsonl") if e.get("event") == "resumed"]
    assert resumed and resumed[0]["last_round"] == done_before
    # the version chain is unbroken and replaying every recorded sum reproduces the final model
    store = Store(db)
    try:
        first = recs[0].version_before
        assert first == 1
        for a, b in zip(recs, recs[1:]):
            assert a.version_after == b.version_before
        final, _ = store.latest_version()
    finally:
        store.close()
    model = ItemModel.initial(final.n_items, final.factors, np.random.Generator(np.random.PCG64(0)), 0.1)
    rec_server = RecServer(model, FedAvg(1.0))
    from secagg.aggregators.base import AggregationResult
    from secagg.core.quantize import dequantize

    for r in recs:
        if r.status != "completed":
            continue
        total = dequantize(r.quantized_sum, clipping_range=1.0, quantization_range=2**16,
                           modulus_range=r.modulus_range, num_clients=len(r.included))
        rec_server.apply(AggregationResult(total=total, included=frozenset(r.included)))
    assert np.array_equal(rec_server.model.to_vector(), final.vector)
    assert final.version == 1 + sum(r.status == "completed" for r in recs)


def _server_on(procs, certs, db, port, args, name):
    port_file = procs.root / f"{name}.port"
    port_file.unlink(missing_ok=True)
    p = procs.spawn(["server", "--db", str(db), "--cert", str(certs.cert), "--key", str(certs.key),
                     "--address", f"127.0.0.1:{port}", "--port-file", str(port_file), *N_ITEMS_ARGS,
                     *TRAINING_ARGS, "--log-file", str(procs.root / f"{name}.jsonl"),
                     "--insecure-open-enrolment", *args],
                    procs.root / f"{name}.out")
    wait_for(lambda: port_file.exists() or p.poll() is not None, 120, f"{name} to listen",
             interval=0.05)
    assert p.poll() is None, (procs.root / f"{name}.out").read_text()[-2000:]
    return p
