"""Durable server state in SQLite: run settings, client registry, each client's last accepted
request counter (replay protection across restarts), model versions (the last K), round results
and rollbacks.

Every completed (or aborted) round is written in ONE transaction together with the model version
it produced, so a server killed at any instant either has the round and its model or has neither;
on restart it resumes after the last recorded round, and the PRIMARY KEY on ``rounds.round`` makes
recording a round twice impossible. WAL journal, ``synchronous=FULL``. The database and its
WAL/SHM files are private (mode 0600). Only the last ``keep_round_sums`` rounds keep their
aggregate (``quantized_sum``); older rounds keep their record without it.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import CheckpointError, ConfigError
from .files import create_private, sqlite_files, tighten
from .model_io import ModelVersion, model_hash

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS clients (
    client_id INTEGER PRIMARY KEY AUTOINCREMENT,
    public_key BLOB NOT NULL UNIQUE,
    registered_at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS certificates (
    client_id INTEGER PRIMARY KEY,
    der BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS counters (
    client_id INTEGER PRIMARY KEY,
    last INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS versions (
    version INTEGER PRIMARY KEY,
    round INTEGER NOT NULL,
    hash TEXT NOT NULL,
    n_items INTEGER NOT NULL,
    factors INTEGER NOT NULL,
    vector BLOB NOT NULL,
    optimizer BLOB NOT NULL,
    note TEXT NOT NULL,
    created REAL NOT NULL);
CREATE TABLE IF NOT EXISTS rounds (
    round INTEGER PRIMARY KEY,
    status TEXT NOT NULL CHECK (status IN ('completed', 'aborted')),
    session_id BLOB NOT NULL,
    version_before INTEGER NOT NULL,
    version_after INTEGER NOT NULL,
    sampled TEXT NOT NULL,
    included TEXT NOT NULL,
    modulus_range INTEGER NOT NULL,
    quantized_sum BLOB,
    stages TEXT NOT NULL,
    abort_reason TEXT,
    started REAL NOT NULL,
    finished REAL NOT NULL);
CREATE TABLE IF NOT EXISTS dp_ledger (
    round INTEGER PRIMARY KEY, contributors INTEGER NOT NULL, epsilon_release REAL NOT NULL,
    epsilon_server REAL NOT NULL, max_participation INTEGER NOT NULL, delta REAL NOT NULL,
    noise_multiplier REAL NOT NULL, mechanism TEXT NOT NULL, participants TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY AUTOINCREMENT, at REAL NOT NULL, kind TEXT NOT NULL, detail TEXT NOT NULL);
"""


_LEDGER = ("round", "contributors", "epsilon_release", "epsilon_server", "max_participation", "delta",
           "noise_multiplier", "mechanism", "participants")
_JSON_LEDGER = ("mechanism", "participants")


@dataclass(frozen=True)
class RoundRecord:
    round: int
    status: str
    session_id: bytes
    version_before: int
    version_after: int
    sampled: list[int]
    included: list[int]
    modulus_range: int
    quantized_sum: np.ndarray | None
    stages: dict[str, Any]
    abort_reason: str | None
    started: float
    finished: float


class Store:
    """One SQLite database per server run (thread-safe: one connection behind a lock)."""

    def __init__(self, path: str | Path, *, keep_versions: int = 5,
                 keep_round_sums: int | None = None) -> None:
        """``keep_round_sums``: rounds whose aggregate is kept (default: ``keep_versions``, the
        rounds behind the versions a rollback can return to; 0 keeps none)."""
        if keep_versions < 1:
            raise ConfigError("keep_versions must be >= 1")
        if keep_round_sums is not None and keep_round_sums < 0:
            raise ConfigError("keep_round_sums must be >= 0")
        self.path = Path(path)
        self.keep_versions = keep_versions
        self.keep_round_sums = keep_versions if keep_round_sums is None else keep_round_sums
        create_private(self.path)
        self._lock = threading.RLock()
        self._db = sqlite3.connect(str(self.path), check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(SCHEMA)
        for f in sqlite_files(self.path):  # SQLite gives WAL/SHM the database's mode; older
            tighten(f)                     # versions of this package left them 0644

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # --- run settings ---------------------------------------------------------------------
    def get_meta(self, key: str) -> Any:
        with self._lock:
            row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else json.loads(row[0])

    def set_meta(self, key: str, value: Any) -> None:
        with self._lock:
            self._db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, json.dumps(value)))

    # --- client registry -------------------------------------------------------------------
    def register(self, public_key: bytes) -> tuple[int, bool]:
        """(client id, newly registered?) for ``public_key``; the same key keeps its id."""
        with self._lock:
            row = self._db.execute("SELECT client_id FROM clients WHERE public_key = ?",
                                   (public_key,)).fetchone()
            if row is not None:
                return int(row[0]), False
            cur = self._db.execute("INSERT INTO clients (public_key, registered_at) VALUES (?, ?)",
                                   (public_key, time.time()))
            return int(cur.lastrowid), True

    def client_keys(self) -> dict[int, bytes]:
        with self._lock:
            return {int(c): bytes(k) for c, k in self._db.execute(
                "SELECT client_id, public_key FROM clients")}

    def save_certificate(self, client_id: int, der: bytes) -> None:
        """Keep the enrolment authority's certificate a client presented (relayed to its peers)."""
        with self._lock:
            self._db.execute("INSERT OR REPLACE INTO certificates VALUES (?, ?)", (client_id, der))

    def client_certificates(self) -> dict[int, bytes]:
        with self._lock:
            return {int(c): bytes(d) for c, d in self._db.execute("SELECT client_id, der FROM certificates")}

    # --- replay protection ---------------------------------------------------------------
    def last_counters(self) -> dict[int, int]:
        """Each client's last accepted request counter (survives restarts)."""
        with self._lock:
            return {int(c): int(n) for c, n in self._db.execute("SELECT client_id, last FROM counters")}

    def save_counter(self, client_id: int, counter: int) -> None:
        """Durably record ``counter`` as accepted for ``client_id`` (never lowers the stored one).

        One autocommit UPSERT, synced like every other write (``synchronous=FULL``), so once this
        returns a server restart still refuses every counter up to ``counter``."""
        with self._lock:
            self._db.execute("INSERT INTO counters (client_id, last) VALUES (?, ?) "
                             "ON CONFLICT (client_id) DO UPDATE SET last = MAX(last, excluded.last)",
                             (client_id, counter))

    def save_counters(self, counters: dict[int, int]) -> None:
        """:meth:`save_counter` for many clients in one synced transaction (one fsync)."""
        if not counters:
            return
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self._db.executemany(
                    "INSERT INTO counters (client_id, last) VALUES (?, ?) "
                    "ON CONFLICT (client_id) DO UPDATE SET last = MAX(last, excluded.last)",
                    list(counters.items()))
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    # --- model versions --------------------------------------------------------------------
    def _insert_version(self, mv: ModelVersion, optimizer: bytes, note: str) -> None:
        self._db.execute("INSERT INTO versions VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                         (mv.version, mv.round, mv.hash, mv.n_items, mv.factors,
                          np.ascontiguousarray(mv.vector, dtype="<f4").tobytes(), optimizer, note,
                          time.time()))
        self._db.execute("DELETE FROM versions WHERE version <= ?", (mv.version - self.keep_versions,))

    def publish_initial(self, mv: ModelVersion, optimizer: bytes) -> None:
        with self._lock, self._db:
            self._db.execute("BEGIN IMMEDIATE")
            self._insert_version(mv, optimizer, "initial")

    def latest_version(self) -> tuple[ModelVersion, bytes] | None:
        with self._lock:
            row = self._db.execute("SELECT MAX(version) FROM versions").fetchone()
        return None if row[0] is None else self.version(int(row[0]))

    def version(self, version: int) -> tuple[ModelVersion, bytes]:
        with self._lock:
            row = self._db.execute("SELECT version, round, hash, n_items, factors, vector, optimizer "
                                   "FROM versions WHERE version = ?", (version,)).fetchone()
        if row is None:
            raise CheckpointError(f"model version {version} is not kept (only the last "
                                  f"{self.keep_versions} are); see `secagg status` for the list")
        v, r, h, n, f, blob, opt = row
        vec = np.frombuffer(blob, dtype="<f4").astype(np.float32)
        if model_hash(n, f, vec) != h:
            raise CheckpointError(f"model version {v} in {self.path} is corrupt (hash mismatch)")
        return ModelVersion(int(v), int(r), int(n), int(f), vec, h), bytes(opt)

    def versions(self) -> list[dict[str, Any]]:
        with self._lock:
            return [{"version": v, "round": r, "hash": h, "note": note, "created": c}
                    for v, r, h, note, c in self._db.execute(
                        "SELECT version, round, hash, note, created FROM versions ORDER BY version")]

    def rollback(self, to_version: int, next_version: int, round_: int) -> ModelVersion:
        """Republish kept version ``to_version`` as ``next_version``; logged as an event."""
        old, opt = self.version(to_version)
        mv = ModelVersion(next_version, round_, old.n_items, old.factors, old.vector, old.hash)
        with self._lock, self._db:
            self._db.execute("BEGIN IMMEDIATE")
            self._insert_version(mv, opt, f"rollback to version {to_version}")
            self._event("rollback", {"to_version": to_version, "new_version": next_version,
                                     "hash": old.hash})
        return mv

    # --- rounds ---------------------------------------------------------------------------
    def last_round(self) -> int:
        with self._lock:
            row = self._db.execute("SELECT MAX(round) FROM rounds").fetchone()
        return 0 if row[0] is None else int(row[0])

    def completed_rounds(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT COUNT(*) FROM rounds WHERE status = 'completed'")
                       .fetchone()[0])

    def record_round(self, rec: RoundRecord, new_version: ModelVersion | None,
                     optimizer: bytes | None, privacy: dict[str, Any] | None = None) -> None:
        """Write the round, (if it completed) its model version and (with DP) its privacy
        spending atomically."""
        qs = None if rec.quantized_sum is None else np.ascontiguousarray(
            rec.quantized_sum, dtype="<u8").tobytes()
        with self._lock, self._db:
            self._db.execute("BEGIN IMMEDIATE")
            self._db.execute(
                "INSERT INTO rounds VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (rec.round, rec.status, rec.session_id, rec.version_before, rec.version_after,
                 json.dumps(rec.sampled), json.dumps(rec.included), rec.modulus_range, qs,
                 json.dumps(rec.stages), rec.abort_reason, rec.started, rec.finished))
            if new_version is not None:
                assert optimizer is not None
                self._insert_version(new_version, optimizer, f"round {rec.round}")
            self._db.execute("UPDATE rounds SET quantized_sum = NULL WHERE round <= ? "
                             "AND quantized_sum IS NOT NULL", (rec.round - self.keep_round_sums,))
            if privacy is not None:
                self._db.execute("INSERT INTO dp_ledger VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                                 tuple(json.dumps(privacy[k]) if k in _JSON_LEDGER else privacy[k]
                                       for k in _LEDGER))

    def privacy(self) -> list[dict[str, Any]]:
        """The DP ledger: each DP round's mechanism, participants and both epsilons after it."""
        with self._lock:
            rows = self._db.execute(f"SELECT {', '.join(_LEDGER)} FROM dp_ledger ORDER BY round").fetchall()
        return [{k: json.loads(v) if k in _JSON_LEDGER else v for k, v in zip(_LEDGER, row)} for row in rows]

    def rounds(self) -> list[RoundRecord]:
        with self._lock:
            rows = self._db.execute("SELECT * FROM rounds ORDER BY round").fetchall()
        out = []
        for (r, status, sid, vb, va, sampled, included, mod, qs, stages, reason, st, fin) in rows:
            out.append(RoundRecord(int(r), status, bytes(sid), int(vb), int(va), json.loads(sampled),
                                   json.loads(included), int(mod),
                                   None if qs is None else np.frombuffer(qs, dtype="<u8").copy(),
                                   json.loads(stages), reason, float(st), float(fin)))
        return out

    def recent_rounds(self, limit: int = 10) -> list[dict[str, Any]]:
        """The last ``limit`` rounds' records without their aggregates (for status views), oldest first."""
        with self._lock:
            rows = self._db.execute(
                "SELECT round, status, sampled, included, stages, abort_reason, started, finished "
                "FROM rounds ORDER BY round DESC LIMIT ?", (limit,)).fetchall()
        return [{"round": int(r), "status": status, "sampled": len(json.loads(sampled)),
                 "included": len(json.loads(included)), "stages": json.loads(stages),
                 "abort_reason": reason, "seconds": round(float(fin) - float(st), 4)}
                for r, status, sampled, included, stages, reason, st, fin in reversed(rows)]

    def rounds_since(self, after: int) -> list[tuple[int, str, str | None, dict[str, Any]]]:
        """(round, status, abort reason, stages) of the rounds after round ``after``, in order."""
        with self._lock:
            rows = self._db.execute("SELECT round, status, abort_reason, stages FROM rounds "
                                    "WHERE round > ? ORDER BY round", (after,)).fetchall()
        return [(int(r), status, reason, json.loads(stages)) for r, status, reason, stages in rows]

    def round_counts(self) -> dict[str, int]:
        """Rounds recorded by status: {"completed": .., "aborted": ..}."""
        with self._lock:
            rows = self._db.execute("SELECT status, COUNT(*) FROM rounds GROUP BY status").fetchall()
        return {"completed": 0, "aborted": 0, **{status: int(n) for status, n in rows}}

    # --- events ---------------------------------------------------------------------------
    def _event(self, kind: str, detail: dict[str, Any]) -> None:
        self._db.execute("INSERT INTO events (at, kind, detail) VALUES (?, ?, ?)",
                         (time.time(), kind, json.dumps(detail)))

    def event(self, kind: str, detail: dict[str, Any]) -> None:
        with self._lock:
            self._event(kind, detail)

    def events(self) -> list[dict[str, Any]]:
        with self._lock:
            return [{"at": at, "kind": k, **json.loads(d)} for at, k, d in self._db.execute(
                "SELECT at, kind, detail FROM events ORDER BY id")]
