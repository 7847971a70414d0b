"""Private files of the server and client: created mode 0600, and tightened to 0600 if an older
version left them readable by others (databases, their WAL/SHM, logs, lock and state files)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

PRIVATE = 0o600


def create_private(path: str | Path) -> Path:
    """Create ``path`` (empty) mode 0600 if missing; make an existing one 0600. Returns it."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(p, os.O_WRONLY | os.O_CREAT, PRIVATE)
    try:
        os.fchmod(fd, PRIVATE)
    finally:
        os.close(fd)
    return p


def write_atomic(path: str | Path, data: bytes, mode: int = PRIVATE) -> None:
    """Replace ``path`` with ``data`` atomically (a synced temporary file renamed over it), created
    with ``mode`` (default 0600): a reader sees the old or the new content, never a torn one."""
    p = Path(path)
    tmp = p.with_name(p.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, p)


def tighten(path: str | Path) -> None:
    """chmod ``path`` to 0600 if it exists and is a regular file with wider permissions."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return
    if stat.S_ISREG(st.st_mode) and stat.S_IMODE(st.st_mode) != PRIVATE:
        os.chmod(path, PRIVATE)


def sqlite_files(db: str | Path) -> list[Path]:
    """The database file and the journal files SQLite keeps beside it."""
    p = Path(db)
    return [p, *(p.with_name(p.name + suffix) for suffix in ("-wal", "-shm", "-journal"))]
