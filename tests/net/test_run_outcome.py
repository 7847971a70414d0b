"""The server's exit code reflects the run: rounds that keep aborting end it as failed (exit 1,
with the reason), and the clients are told it ended. Real processes on 127.0.0.1."""

from __future__ import annotations

import signal

import pytest

pytest.importorskip("grpc")

from .test_processes import FAST, _rounds  # noqa: E402


def test_a_run_whose_rounds_keep_aborting_exits_non_zero_with_the_reason(tmp_path, certs, procs):
    n = 4
    db = tmp_path / "server.db"
    server, port = procs.server(certs, db, "--rounds", "2", "--clients-per-round", str(n),
                                "--min-clients", str(n), "--max-aborted-rounds", "1", *FAST)
    # three of the four die at SHARE_KEYS of round 1: below the threshold, the round aborts
    dying = [procs.client(certs, port, u, "--exit-at", "1:SHARE_KEYS") for u in range(3)]
    last = procs.client(certs, port, 3)
    assert server.wait(180) == 1
    out = (tmp_path / "server.out").read_text()
    assert "the run failed: 1 rounds in a row aborted" in out and "ThresholdError" in out, out
    (rec,) = _rounds(db)
    assert rec.status == "aborted"
    for p in dying:
        assert p.wait(60) == -signal.SIGKILL
    assert last.wait(120) == 0  # told that the run ended, and why
    assert "the server ended the run (the server gave up" in (tmp_path / "client3.out").read_text()
