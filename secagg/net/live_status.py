"""The live state of a running server, as one JSON-ready dict: what ``secagg status --server``
prints and what the Prometheus metrics are read from.

The coordinator's lock is held only to copy a few fields; the database is read after. Privacy
entries are passed through as the ledger stores them, so every epsilon field it holds is shown.
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path
from typing import Any

from .coordinator import Coordinator
from .store import Store

RECENT_ROUNDS = 10


def health(co: Coordinator, round_thread_alive: bool) -> tuple[str, str]:
    """("ok" | "degraded" | "ended" | "failed" | "stopped", reason). Only "ok" and "degraded"
    are healthy: the server is running rounds (degraded: the last rounds aborted)."""
    if co.error is not None:
        return "failed", f"the run failed: {type(co.error).__name__}: {co.error}"
    if co.ended is not None:
        return "ended", f"the run ended: {co.ended}"
    if co.stop_event.is_set() or not round_thread_alive:
        return "stopped", "the server is stopping"
    if co.aborted_streak:
        return "degraded", (f"{co.aborted_streak} round(s) in a row aborted; the last: "
                            f"{co.last_abort_reason}")
    return "ok", "serving rounds"


def current_round(co: Coordinator) -> dict[str, Any] | None:
    """The round in progress and its open stage (None between rounds). Holds the lock briefly."""
    with co.cond:
        session = co.session
        if session is None:
            return None
        opened = getattr(co, "stage_opened", time.monotonic())
        deadline_s = float(getattr(co, "stage_deadline_s", 0.0))
        elapsed = time.monotonic() - opened
        return {"round": co.round + 1, "stage": session.stage.name, "state": session.state.name,
                "sampled": len(session.config.client_ids), "expected": len(session.expected),
                "replied": len(session.replied), "rejected": len(session.rejected),
                "stage_elapsed_s": round(elapsed, 3), "deadline_s": round(deadline_s, 3),
                "deadline_in_s": round(max(0.0, deadline_s - elapsed), 3)}


def process_stats() -> dict[str, Any]:
    """This process's CPU seconds, resident memory and thread count (Linux /proc; else partial)."""
    cpu = time.process_time()
    rss = threads = None
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1]) * 1024
            elif line.startswith("Threads:"):
                threads = int(line.split()[1])
    except OSError:
        threads = threading.active_count()
    return {"pid": os.getpid(), "cpu_seconds": round(cpu, 3), "rss_bytes": rss, "threads": threads}


def _scalars(row: dict[str, Any]) -> dict[str, Any]:
    """The ledger row's scalar fields (every epsilon, delta, round, ...), without lists such as
    the round's participants."""
    return {k: v for k, v in row.items() if not isinstance(v, (list, tuple, dict, set))}


def live_status(co: Coordinator, store: Store, *, started_at: float, round_thread_alive: bool,
                version: str) -> dict[str, Any]:
    """Everything ``secagg status --server`` shows (see docs/deployment.md, "Status")."""
    state, reason = health(co, round_thread_alive)
    with co.cond:
        online = len(co.online())
        registered = len(co.keys)
        aborted_streak = co.aborted_streak
        current_version = co.current.version
    counts = store.round_counts()
    privacy = store.privacy()
    return {
        "health": state, "healthy": state in ("ok", "degraded"), "reason": reason,
        "run_id": co.run_id, "server_version": version,
        "uptime_s": round(time.time() - started_at, 1),
        "round": current_round(co),
        "clients": {"online": online, "registered": registered},
        "rounds": {**counts, "recorded": counts["completed"] + counts["aborted"],
                   "completed_by_this_process": co.completed_here, "aborted_in_a_row": aborted_streak},
        "recent_rounds": store.recent_rounds(RECENT_ROUNDS),
        "privacy": _scalars(privacy[-1]) if privacy else None,
        "model": {"current_version": current_version,
                  "kept": [{"version": v["version"], "round": v["round"], "hash": v["hash"]}
                           for v in store.versions()]},
        "process": process_stats(),
    }
