"""Group commit of the replay counters: calls that must each be durable before they return share
one synced transaction instead of paying one fsync each.

Every authenticated request's counter must be on disk before the request is served (so a request
captured before a server restart stays refused after it). One synced SQLite write takes
milliseconds (an fsync) and they were serialised, which bounded the server to a few hundred
requests per second whatever its CPU. Here the first caller to find no write in progress becomes
the leader and writes everything queued so far in one transaction; callers arriving meanwhile
queue their counters and wait for the next write, which the first of them leads. Each call still
returns only after a transaction holding its counter (or a higher one of the same client)
committed, and raises if that transaction failed: the guarantee is unchanged, only shared.
"""

from __future__ import annotations

import threading
from collections.abc import Callable


class GroupCommitter:
    """``save(key, value)`` returns once ``write_many`` committed a batch holding ``key`` with a
    value >= ``value`` (the maximum per key is kept); it raises what that write raised."""

    def __init__(self, write_many: Callable[[dict[int, int]], None]) -> None:
        self._write_many = write_many
        self._cv = threading.Condition()
        self._pending: dict[int, int] = {}
        self._open = 1        # the batch new entries join
        self._done = 0        # the last batch written (batches are written in order)
        self._writing = False
        self._errors: dict[int, BaseException] = {}

    def pending(self) -> int:
        """Entries queued for the next write (for tests and metrics)."""
        with self._cv:
            return len(self._pending)

    def save(self, key: int, value: int) -> None:
        self.save_many({key: value})

    def save_many(self, values: dict[int, int]) -> None:
        """:meth:`save` for several keys: returns once one batch holding all of them committed."""
        with self._cv:
            for key, value in values.items():
                self._pending[key] = max(value, self._pending.get(key, value))
            mine = self._open
            while self._done < mine:
                if self._writing:
                    self._cv.wait()
                    continue
                batch, self._pending = self._pending, {}
                number, self._open = self._open, self._open + 1
                self._writing = True
                self._cv.release()
                error: BaseException | None = None
                try:
                    self._write_many(batch)
                except BaseException as exc:  # noqa: BLE001 - handed to every caller of the batch
                    error = exc
                finally:
                    self._cv.acquire()
                    self._writing = False
                    self._done = number
                    if error is not None:
                        self._errors[number] = error
                    self._cv.notify_all()
            error = self._errors.get(mine)
            if error is not None:
                if len(self._errors) > 64:  # forget old failures; their callers have seen them
                    for old in sorted(self._errors)[:-64]:
                        del self._errors[old]
                raise error
