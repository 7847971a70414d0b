"""Admin operations on a stopped server's database (``secagg rollback``).

They take the database's exclusive lock first, so they refuse to run while a server serves from
it: a rollback is a deliberate, one-time act, recorded in the database's events, never a flag
that a restart would repeat.
"""

from __future__ import annotations

from pathlib import Path

from ..errors import ConfigError
from .dblock import DatabaseLock
from .model_io import ModelVersion
from .store import Store


def rollback(db: str | Path, to_version: int) -> ModelVersion:
    """Republish kept model version ``to_version`` of ``db`` as its newest version (the next
    server start trains from it). Raises DatabaseLockedError while a server holds ``db``."""
    path = Path(db)
    if not path.is_file():
        raise ConfigError(f"{path}: no server database here")
    if to_version < 1:
        raise ConfigError("--to must be a model version >= 1 (see `secagg status` for the kept ones)")
    with DatabaseLock(path, "secagg rollback"):
        store = Store(path)
        store.keep_versions = int(store.get_meta("keep_versions") or store.keep_versions)
        try:
            latest = store.latest_version()
            if latest is None:
                raise ConfigError("nothing to roll back: the database has no model yet")
            return store.rollback(to_version, latest[0].version + 1, store.last_round())
        finally:
            store.close()
