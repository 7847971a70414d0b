"""One server per database and per port, private files, rollback as an admin command - with real
server processes on 127.0.0.1 (every process is killed by the ``procs`` fixture; waits are bounded)."""

from __future__ import annotations

import os
import signal
import stat

import pytest

pytest.importorskip("grpc")

from secagg.cli import main  # noqa: E402
from secagg.net.store import Store  # noqa: E402

from .conftest import N_ITEMS_ARGS, TRAINING_ARGS, wait_for  # noqa: E402


def _second_server(procs, certs, db, address, name):
    """A second ``secagg server``; returns (exit code, output)."""
    p = procs.spawn(["server", "--db", str(db), "--cert", str(certs.cert), "--key", str(certs.key),
                     "--address", address, "--insecure-open-enrolment", *N_ITEMS_ARGS, *TRAINING_ARGS], procs.root / f"{name}.out")
    rc = p.wait(120)
    return rc, (procs.root / f"{name}.out").read_text()


def _mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_a_second_server_on_the_same_database_or_port_is_refused_at_start(tmp_path, certs, procs):
    db = tmp_path / "server.db"
    first, port = procs.server(certs, db)
    # the same database, another port: refused by the database lock, naming the holder
    rc, out = _second_server(procs, certs, db, "127.0.0.1:0", "same_db")
    assert rc == 2, out
    assert f"in use by secagg server (pid {first.pid})" in out and len(out.strip().splitlines()) == 1, out
    # another database, the same port: refused (no SO_REUSEPORT), and nothing is written
    other = tmp_path / "other.db"
    rc, out = _second_server(procs, certs, other, f"127.0.0.1:{port}", "same_port")
    assert rc == 2 and "cannot listen on" in out and "in use" in out, out
    assert not other.exists() and not (tmp_path / "other.db.lock").exists()
    assert first.poll() is None, "the first server must keep serving"


def test_server_files_are_private(tmp_path, certs, procs):
    db = tmp_path / "server.db"
    procs.server(certs, db)
    wait_for(lambda: (tmp_path / "server.db-wal").exists(), 60, "the WAL file")
    for f in (db, tmp_path / "server.db-wal", tmp_path / "server.db-shm", tmp_path / "server.db.lock",
              tmp_path / "server.jsonl"):
        assert _mode(f) == 0o600, f"{f.name} is {oct(_mode(f))}"


def test_an_old_world_readable_database_is_tightened(tmp_path):
    db = tmp_path / "old.db"
    Store(db).close()
    os.chmod(db, 0o644)
    Store(db).close()
    assert _mode(db) == 0o600


def test_rollback_is_an_admin_command_refused_while_a_server_runs(tmp_path, certs, procs, capsys):
    db = tmp_path / "server.db"
    server, _ = procs.server(certs, db)  # publishes the initial model, version 1
    assert main(["rollback", "--db", str(db), "--to", "1"]) == 2
    err = capsys.readouterr().err
    assert "in use by secagg server" in err and len(err.strip().splitlines()) == 1, err
    server.send_signal(signal.SIGTERM)
    # stopped before any round completed: a run that did nothing is not a success
    assert server.wait(60) == 1
    assert "stopped before any round completed" in (tmp_path / "server.out").read_text()
    assert main(["rollback", "--db", str(db), "--to", "7"]) == 2
    assert "not kept" in capsys.readouterr().err
    assert main(["rollback", "--db", str(db), "--to", "1"]) == 0
    assert "as version 2" in capsys.readouterr().out
    store = Store(db)
    try:
        assert [e["kind"] for e in store.events()] == ["rollback"]
        assert store.latest_version()[0].version == 2
    finally:
        store.close()
    # a server started afterwards trains from the republished version, once: no start flag repeats it
    server, _ = procs.server(certs, db, name="again")
    wait_for(lambda: any('"resumed"' in line for line in (tmp_path / "again.jsonl").read_text().splitlines()),
             60, "the server to resume")
    assert '"version": 2' in (tmp_path / "again.jsonl").read_text()
