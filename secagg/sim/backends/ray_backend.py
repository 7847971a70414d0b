"""The Ray backend: groups of simulated clients in Ray actors, locally or on a Ray cluster.

Each actor hosts one group of a session's clients (round-robin by id) in a
:class:`~.group.ClientGroup`; a client's secrets exist only in its actor. Inputs go through Ray's
object store (one ``ray.put`` per group), requests go out in a few chunks per group, and the
replies stream back with ``ray.wait`` as each chunk completes, so the server (in the caller)
starts on the first replies while the actors still compute. ``address`` joins an existing cluster
(``ray.init(address=...)``); without it a local Ray instance is started (``num_cpus`` cores).
If Ray is already initialised in this process, the backend uses that instance as it is.

A lost actor ends the session with :class:`~secagg.errors.ClientGroupError` naming the group; the
backend then drops all its actors and the next session starts with fresh ones.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import numpy as np

from ..._validate import check_int
from ...errors import ClientGroupError, ConfigError, DependencyError, InputError, SecAggError
from .base import ClientBackend, ClientSpec, Job, Outcome, Result, Shared
from .group import ClientGroup

MAX_GROUPS = 4096
START_TIMEOUT = 300.0  # seconds for the actors to start (a cold cluster may need to start workers)
NICENESS = 5  # local actors yield the CPU to the caller (which trains and runs the server)
_CHUNKS = 4  # a group answers one stage's requests in at least this many chunks
_MAX_CHUNK = 16  # of at most this many clients each, so the server starts early


def _ray() -> Any:
    try:
        import ray
    except ImportError:
        raise DependencyError("the 'ray' backend needs Ray: pip install 'secagg[ray]'") from None
    return ray


class GroupActor(ClientGroup):
    """The body of one Ray actor: a :class:`ClientGroup` plus stateless work (``map``)."""

    def __init__(self, niceness: int) -> None:
        super().__init__()
        os.environ.setdefault("SECAGG_THREADS", "1")  # one actor per core already: no native threads
        if niceness and hasattr(os, "nice"):
            try:
                os.nice(niceness)
            except OSError:
                pass

    def ready(self) -> int:
        return os.getpid()

    def map(self, fn: Callable[[Any, Sequence[Any]], list[Any]], shared: Any, jobs: Sequence[Any]) -> list[Any]:
        return fn(shared, jobs)


class RayBackend(ClientBackend):
    """``groups`` Ray actors (default: one per CPU of the cluster) hosting the clients."""

    name = "ray"
    remote = True

    def __init__(self, *, address: str | None = None, num_cpus: int | None = None,
                 groups: int | None = None) -> None:
        """``address``: an existing Ray cluster (``"auto"``, ``"ray://host:10001"``, ...); None starts
        a local instance with ``num_cpus`` CPUs (default: all). ``groups``: actors, each hosting
        a share of the clients (default: the cluster's CPU count)."""
        if address is not None and (not isinstance(address, str) or not address):
            raise ConfigError(f"address must be a Ray cluster address string, got {address!r}")
        if num_cpus is not None:
            num_cpus = check_int("num_cpus", num_cpus, lo=1, hi=MAX_GROUPS)
            if address is not None:
                raise ConfigError("num_cpus sizes a local Ray instance; a cluster given by address "
                                  "has its own CPUs")
        self.address, self.num_cpus = address, num_cpus
        self.groups = None if groups is None else check_int("groups", groups, lo=1, hi=MAX_GROUPS)
        self._ray = _ray()  # a missing dependency is an error now, before any work
        self._started_ray = False
        self._actors: list[Any] = []
        self._owner: dict[int, int] = {}
        self._members: list[list[int]] = []

    # --- actors ---------------------------------------------------------------------------
    def _start(self) -> None:
        if self._actors:
            return
        ray = self._ray
        if not ray.is_initialized():
            ray.init(address=self.address, num_cpus=self.num_cpus, include_dashboard=False,
                     log_to_driver=False, configure_logging=False)
            self._started_ray = True
        count = self.groups or max(1, int(ray.cluster_resources().get("CPU", 1)))
        local = self.address is None
        # no CPU reservation (so several backends, or more groups than CPUs, never wait to be
        # placed), spread over the cluster's nodes
        actor = ray.remote(num_cpus=0, max_restarts=0, scheduling_strategy="SPREAD")(GroupActor)
        self._actors = [actor.remote(NICENESS if local else 0) for _ in range(count)]
        self._members = [[] for _ in range(count)]
        self._gather({g: a.ready.remote() for g, a in enumerate(self._actors)}, timeout=START_TIMEOUT)

    def _drop_actors(self) -> None:
        for actor in self._actors:
            try:
                self._ray.kill(actor)
            except Exception:  # noqa: BLE001 - already gone
                pass
        self._actors, self._owner, self._members = [], {}, []

    def _lost(self, group: int, why: str) -> ClientGroupError:
        members = self._members[group] if group < len(self._members) else []
        shown = ", ".join(map(str, members[:6])) + (", ..." if len(members) > 6 else "")
        self._drop_actors()
        return ClientGroupError(f"client group {group} (clients {shown or 'none yet'}) was lost: {why}; the "
                                "session is over, the next one starts fresh actors", group=group)

    def _value(self, group: int, ref: Any, timeout: float | None = None) -> Any:
        """The result of one actor call; a dead actor or a bug is a ClientGroupError naming the group."""
        ray = self._ray
        try:
            return ray.get(ref, timeout=timeout)
        except ray.exceptions.RayActorError as exc:
            raise self._lost(group, f"its Ray actor died ({type(exc).__name__})") from None
        except ray.exceptions.GetTimeoutError:
            raise self._lost(group, f"its Ray actor did not answer within {timeout:.0f} s") from None
        except ray.exceptions.RayTaskError as exc:
            cause = exc.cause
            if isinstance(cause, SecAggError):
                raise cause from None
            raise self._lost(group, f"its actor failed:\n{exc}") from None

    def _gather(self, calls: Mapping[int, Any], timeout: float | None = None) -> dict[int, Any]:
        """group -> result of that group's call, collected as they complete."""
        pending = {ref: group for group, ref in calls.items()}
        answers: dict[int, Any] = {}
        while pending:
            ready, _ = self._ray.wait(list(pending), num_returns=1, timeout=timeout)
            if not ready:
                group = next(iter(pending.values()))
                raise self._lost(group, f"its Ray actor did not answer within {timeout:.0f} s")
            group = pending.pop(ready[0])
            answers[group] = self._value(group, ready[0])
        return answers

    # --- one session ----------------------------------------------------------------------
    def begin(self, specs: Mapping[int, ClientSpec], *, identities: bool = False) -> dict[int, bytes]:
        for attempt in range(2):  # actors lost between sessions are replaced without a fuss
            self._start()
            try:
                return self._begin(specs, identities)
            except ClientGroupError:
                if attempt:
                    raise
        raise AssertionError("unreachable")  # pragma: no cover

    def _begin(self, specs: Mapping[int, ClientSpec], identities: bool) -> dict[int, bytes]:
        ids, count = sorted(specs), len(self._actors)
        self._owner = {cid: i % count for i, cid in enumerate(ids)}
        self._members = [ids[g::count] for g in range(count)]
        busy = {g: m for g, m in enumerate(self._members) if m}
        registry: dict[int, bytes] = {}
        if identities:
            for part in self._gather({g: self._actors[g].make_identities.remote(m)
                                      for g, m in busy.items()}).values():
                registry.update(part)
        shared = self._ray.put(registry)
        self._gather({g: a.begin.remote({cid: specs[cid] for cid in self._members[g]}, shared)
                      for g, a in enumerate(self._actors)})
        return registry

    def provide(self, updates: Mapping[int, np.ndarray]) -> dict[int, SecAggError]:
        unknown = [cid for cid in updates if cid not in self._owner]
        if unknown:
            raise InputError(f"clients {sorted(unknown)[:5]} are not part of this backend's session")
        shards: dict[int, dict[int, np.ndarray]] = {}
        for cid, update in updates.items():
            shards.setdefault(self._owner[cid], {})[cid] = np.asarray(update)
        refs = {g: self._actors[g].provide.remote(self._ray.put(shard)) for g, shard in shards.items()}
        failed: dict[int, SecAggError] = {}
        for part in self._gather(refs).values():
            failed.update(part)
        return failed

    def handle(self, requests: Sequence[tuple[int, bytes]]) -> Iterator[Outcome]:
        per_group: dict[int, list[tuple[int, bytes]]] = {}
        for cid, request in requests:
            if cid not in self._owner:
                raise InputError(f"client {cid} is not part of this backend's session")
            per_group.setdefault(self._owner[cid], []).append((cid, request))
        pending = {}
        for g, batch in per_group.items():
            size = max(1, min(len(batch) // _CHUNKS, _MAX_CHUNK))
            for start in range(0, len(batch), size):  # an actor runs its calls in submission order
                pending[self._actors[g].handle.remote(batch[start:start + size])] = g
        while pending:
            ready, _ = self._ray.wait(list(pending), num_returns=1)
            yield from self._value(pending.pop(ready[0]), ready[0])

    def end(self) -> None:
        self._owner = {}
        if self._actors:
            try:
                self._gather({g: a.end.remote() for g, a in enumerate(self._actors)})
            except ClientGroupError:
                pass  # a dead actor holds no secrets; the next session starts fresh actors

    def map(self, fn: Callable[[Shared, Sequence[Job]], list[Result]], shared: Shared,
            jobs: Sequence[Job]) -> list[Result]:
        jobs = list(jobs)
        if not jobs:
            return []
        self._start()
        count = min(len(self._actors), len(jobs))
        ref = self._ray.put(shared)
        bounds = [len(jobs) * g // count for g in range(count + 1)]
        parts = self._gather({g: self._actors[g].map.remote(fn, ref, jobs[bounds[g]:bounds[g + 1]])
                              for g in range(count)})
        return [result for g in range(count) for result in parts[g]]

    def close(self) -> None:
        """Kill the actors; shut Ray down if this backend started it."""
        self._drop_actors()
        if self._started_ray:
            self._started_ray = False
            self._ray.shutdown()

    def __del__(self) -> None:  # pragma: no cover - best effort at interpreter exit
        try:
            self._drop_actors()
        except Exception:  # noqa: BLE001
            pass
