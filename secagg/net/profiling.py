"""Opt-in profile of a whole server process, every thread included: set ``SECAGG_PROFILE=FILE``
and the server writes cProfile statistics (``python -m pstats FILE``) when it stops. For finding
where the server's CPU goes at scale (each thread's CPU time, py-spy-like without py-spy);
off by default."""

from __future__ import annotations

import cProfile
import os
import pstats
import sys
import threading
import time
from typing import Any

ENV = "SECAGG_PROFILE"


class ProcessProfile:
    """cProfile in the calling thread and every thread started afterwards."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.profiles: list[cProfile.Profile] = []
        self._lock = threading.Lock()
        threading.setprofile(self._thread_started)
        self._add()

    def _add(self) -> None:
        prof = cProfile.Profile(time.thread_time)  # CPU of each thread, not wall time
        with self._lock:
            self.profiles.append(prof)
        prof.enable()

    def _thread_started(self, frame: Any, event: str, arg: Any) -> None:
        sys.setprofile(None)
        self._add()

    def dump(self) -> None:
        threading.setprofile(None)
        with self._lock:
            profiles = list(self.profiles)
        stats = pstats.Stats(profiles[0])
        for prof in profiles[1:]:
            try:
                stats.add(prof)
            except TypeError:  # a thread whose profile recorded nothing
                pass
        stats.dump_stats(self.path)


def from_environment() -> ProcessProfile | None:
    """A :class:`ProcessProfile` if ``SECAGG_PROFILE`` names a file, else None."""
    path = os.environ.get(ENV)
    return ProcessProfile(path) if path else None
