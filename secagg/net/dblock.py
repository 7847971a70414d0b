"""One server per database: an exclusive ``flock`` on ``<db>.lock``, taken before the database is
opened and held until the server stops. A second server, or ``secagg rollback`` while a server
runs, is refused at once with :class:`~secagg.errors.DatabaseLockedError` naming the holder's pid.

The kernel drops the lock when the holder dies (even by SIGKILL), so a crashed server never
leaves a stale lock behind. ``flock`` is per open file description: it also excludes a second
server inside the same process.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from ..errors import DatabaseLockedError
from .files import create_private


class DatabaseLock:
    """Hold the exclusive lock of database ``db`` (``purpose`` names the holder in errors)."""

    def __init__(self, db: str | Path, purpose: str = "secagg server") -> None:
        self.path = Path(str(db) + ".lock")
        create_private(self.path)
        self._fd: int | None = os.open(self.path, os.O_RDWR)
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(self._fd, 200, 0).decode("utf-8", "replace").strip() or "another process"
            os.close(self._fd)
            self._fd = None
            raise DatabaseLockedError(
                f"the database {db} is in use by {holder}; stop it first (one server per database; "
                f"`secagg status --db {db}` reads it while a server runs)") from None
        os.ftruncate(self._fd, 0)
        os.pwrite(self._fd, f"{purpose} (pid {os.getpid()})".encode(), 0)

    @property
    def held(self) -> bool:
        return self._fd is not None

    def release(self) -> None:
        """Release the lock (idempotent)."""
        if self._fd is not None:
            fd, self._fd = self._fd, None
            os.ftruncate(fd, 0)
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)

    def __enter__(self) -> DatabaseLock:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()
