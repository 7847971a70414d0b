"""A short soak: many clients (threads in this process) against a server process for several
rounds; no round may be lost and the server's resident memory must stay bounded.
Scale it up with SECAGG_NET_SOAK_CLIENTS / SECAGG_NET_SOAK_ROUNDS (the issue's soak is 50 x 30)."""

from __future__ import annotations

import json
import os

import pytest

pytest.importorskip("grpc")

from secagg.net.trainer import dataset_items  # noqa: E402

from .conftest import FACTORS, wait_for  # noqa: E402
from .helpers import ClientThreads, check_exact_sums  # noqa: E402
from .test_processes import _log, _rounds  # noqa: E402

CLIENTS = int(os.environ.get("SECAGG_NET_SOAK_CLIENTS", "50"))
ROUNDS = int(os.environ.get("SECAGG_NET_SOAK_ROUNDS", "10"))


def _rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS")


def test_soak_no_lost_round_and_bounded_memory(tmp_path, certs, procs):
    # Every client replies to every stage, so a stage closes as soon as the last reply arrives;
    # the deadlines and the liveness window are only there to bound a broken run, and generous
    # so that 50 client threads sharing one GIL on a loaded machine are never taken for dropouts.
    db, dump = tmp_path / "server.db", tmp_path / "dump"
    server, port = procs.server(certs, db, "--rounds", str(ROUNDS), "--clients-per-round", str(CLIENTS),
                                "--min-clients", str(CLIENTS), "--stage-timeout", "120",
                                "--training-timeout", "120", "--liveness-timeout", "30",
                                "--keep-round-sums", str(ROUNDS))  # every sum, for the exact-sum check
    shape = (dataset_items("synthetic"), int(FACTORS))  # the server's model (conftest's options)
    clients = ClientThreads(tmp_path, certs, port, CLIENTS, dump=dump, model_shape=shape)
    try:
        wait_for(lambda: len(_rounds(db)) >= 2, 300, "two soak rounds")
        rss_early = _rss_kib(server.pid)
        assert server.wait(120 + 30 * ROUNDS) == 0, "soak did not finish"
    finally:
        clients.stop()
    log = _log(tmp_path / "server.jsonl")
    rss_late = max(e["rss_kib"] for e in log if e.get("event") == "round_completed")
    recs = _rounds(db)
    assert [r.round for r in recs] == list(range(1, ROUNDS + 1))
    assert all(r.status == "completed" and len(r.included) == CLIENTS for r in recs), \
        [(r.round, r.status, len(r.included), r.abort_reason) for r in recs]
    assert check_exact_sums(db, dump) == ROUNDS
    growth_mib = (rss_late - rss_early) / 1024
    print(json.dumps({"clients": CLIENTS, "rounds": ROUNDS, "rss_early_mib": rss_early / 1024,
                      "rss_late_mib": rss_late / 1024, "growth_mib": growth_mib}))
    assert growth_mib < 40, f"server RSS grew by {growth_mib:.1f} MiB over {ROUNDS - 2} rounds"
