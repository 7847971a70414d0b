"""Simulated SecAgg clients spread over worker processes, as devices run in parallel in deployment.

:func:`secagg.sim.simulate` runs every client in the calling process by default. Given a
:class:`ClientPool`, it hosts the clients in ``workers`` long-lived processes instead: a client's
secrets (its key pairs, its Ed25519 identity key, its self-mask seed, its shares) exist only in its
worker, and only protocol messages (the bytes a network would carry) cross the process boundary.
The server stays in the calling process and handles each reply as soon as it arrives, while the
other workers are still computing.

Workers are fresh interpreters (``python -c``, not ``multiprocessing``), so a calling script needs
no ``if __name__ == "__main__"`` guard, and nothing of the caller's state is inherited. They talk
over their stdin/stdout pipes with length-prefixed pickles (both ends are this package). The pool is
reusable across sessions (one per training round); start-up is paid once. Close it with
:meth:`ClientPool.close` or use it as a context manager.
"""

from __future__ import annotations

import dataclasses
import pickle
import queue
import subprocess
import threading
import time
import traceback
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from multiprocessing.shared_memory import SharedMemory
from typing import IO, Any

import numpy as np

from .._validate import check_int
from ..errors import SecAggError, WorkerError
from ._ipc import (
    portable_error,
    read_message,
    start_worker,
    worker_streams,
    write_message,
)

_START_TIMEOUT = 120.0  # seconds for a worker to import numpy, secagg and answer
_BATCHES = 4  # a worker answers one stage's requests in at least this many messages
_MAX_BATCH = 16  # of at most this many clients each, so the server starts early
MAX_WORKERS = 1024
_DIRECT_BYTES = 8 << 20  # inputs up to this size go through the pipes, larger ones shared memory


@dataclass(frozen=True)
class ClientSpec:
    """A device's own secrets and assumptions for a session (never sent); its input comes later
    (``provide``). ``graph_nonce`` fixes its graph-seed nonce (reproducible tests only)."""

    rounding_seed: bytes | None = None
    noise: Any = None  # secagg.protocol.config.NoisePlan | None
    policy: Any = None  # secagg.protocol.policy.ClientPolicy | None (the default policy)
    graph_nonce: bytes | None = None


@dataclass(frozen=True)
class Outcome:
    """One client's handling of one request: its reply (None after an abort) or its error."""

    client_id: int
    reply: bytes | None
    error: SecAggError | None
    seconds: float
    cpu_seconds: float


def check_workers(workers: object) -> int:
    """A worker count: an int >= 1 (1 means in process, no pool)."""
    return check_int("workers", workers, lo=1, hi=MAX_WORKERS)


def _attach(name: str) -> SharedMemory:
    """Open the caller's segment without letting this process's resource tracker own it."""
    shm = SharedMemory(name=name)
    try:  # Python < 3.13 registers every attachment and would unlink the segment at exit
        from multiprocessing import resource_tracker

        resource_tracker.unregister(shm._name, "shared_memory")  # type: ignore[attr-defined]
    except Exception:  # noqa: BLE001 - newer Pythons or other platforms: nothing to undo
        pass
    return shm


class _SharedRows:
    """One session's inputs in a shared-memory matrix, one row per client, each row written once.

    Instead of pickling tens of megabytes through the pipes, the caller copies a client's input
    into its row and the worker hands the client a view of it (no copy). Rows are never
    overwritten within a session, and the segment is reused by the next session (same size or
    smaller), so its pages are faulted in only once.
    """

    def __init__(self) -> None:
        self._shm: SharedMemory | None = None
        self.shape: tuple[int, int] | None = None
        self.dtype: np.dtype | None = None

    def reset(self) -> None:
        """A new session: the layout is fixed by its first inputs."""
        self.shape = self.dtype = None

    def fits(self, count: int, arrays: Sequence[np.ndarray]) -> bool:
        """Whether these arrays can go into this session's matrix of ``count`` rows."""
        first = arrays[0]
        if first.ndim != 1 or first.dtype not in (np.float32, np.float64, np.uint32, np.uint64):
            return False
        shape, dtype = (count, first.shape[0]), first.dtype
        if any(a.shape != first.shape or a.dtype != dtype for a in arrays):
            return False
        return self.shape is None or (self.shape, self.dtype) == (shape, dtype)

    def put(self, rows: Mapping[int, np.ndarray], count: int) -> tuple[str, tuple[int, int], str]:
        """Write row index -> array (all of one dtype and length); returns (segment, shape, dtype)."""
        first = next(iter(rows.values()))
        if self.shape is None:
            self.shape, self.dtype = (count, first.shape[0]), first.dtype
            size = max(1, count * first.shape[0] * first.dtype.itemsize)
            if self._shm is None or self._shm.size < size:
                self._release()
                self._shm = SharedMemory(create=True, size=size)
        assert self._shm is not None and self.shape is not None and self.dtype is not None
        matrix = np.ndarray(self.shape, dtype=self.dtype, buffer=self._shm.buf)
        for i, row in rows.items():
            matrix[i] = row
        del matrix  # no export may outlive this call, or the segment could not be closed
        return self._shm.name, self.shape, self.dtype.str

    def _release(self) -> None:
        if self._shm is not None:
            self._shm.close()
            self._shm.unlink()
            self._shm = None

    def close(self) -> None:
        self._release()
        self.reset()


class _Attached:
    """A worker's mapping of the caller's current input segment (views of it go to clients)."""

    def __init__(self) -> None:
        self.shm: SharedMemory | None = None

    def matrix(self, name: str, shape: tuple[int, int], dtype: str) -> np.ndarray:
        if self.shm is None or self.shm.name.lstrip("/") != name.lstrip("/"):
            self.close()
            self.shm = _attach(name)
        return np.ndarray(shape, dtype=np.dtype(dtype), buffer=self.shm.buf)

    def close(self) -> None:
        """Unmap (call once no client holds a view any more)."""
        if self.shm is not None:
            try:
                self.shm.close()
            except BufferError:  # a view is still referenced somewhere: unmapped when it dies
                pass
            self.shm = None


def _set_inputs(clients: Mapping[int, Any], updates: Mapping[int, np.ndarray]) -> dict[int, SecAggError]:
    """Hand each client its input; a client that refuses it fails alone (id -> its error)."""
    failed = {}
    for cid, update in updates.items():
        try:
            clients[cid].set_input(update)
        except SecAggError as exc:
            failed[cid] = portable_error(exc)
    return failed


def _make_clients(specs: Mapping[int, ClientSpec], identities: Mapping[int, Any],
                  registry: Mapping[int, bytes]) -> dict[int, Any]:
    """A session's clients, without inputs yet (they come with ``set_input``)."""
    from ..protocol.client import SecAggClient

    return {cid: SecAggClient(cid, None, rounding_seed=spec.rounding_seed, identity=identities.get(cid),
                              identity_registry=registry, noise=spec.noise, policy=spec.policy,
                              graph_nonce=spec.graph_nonce)
            for cid, spec in specs.items()}


def _run_request(clients: Mapping[int, Any], cid: int, request: bytes) -> Outcome:
    """One client handles one request, timed; a protocol error is its outcome, not a raise."""
    t0, c0 = time.perf_counter(), time.process_time()
    reply, error = None, None
    try:
        reply = clients[cid].handle(request)
    except SecAggError as exc:
        error = exc
    return Outcome(cid, reply, error, time.perf_counter() - t0, time.process_time() - c0)


def serve() -> None:
    """Body of one worker process: host clients, answer commands on stdin/stdout until told to stop."""
    from ..core.crypto import IdentityKey

    inp, out = worker_streams()
    attached = _Attached()
    identities: dict[int, IdentityKey] = {}
    clients: dict[int, Any] = {}
    write_message(out, ("ok", None))
    while True:
        message = read_message(inp)
        if message is None or message[0] == "stop":
            return
        command, *args = message
        try:
            if command == "identities":
                identities = {cid: IdentityKey() for cid in args[0]}
                write_message(out, ("ok", {cid: key.public for cid, key in identities.items()}))
            elif command == "session":
                specs, registry = args
                clients = {}  # drop the last session's clients (and their views) before unmapping
                attached.close()
                clients = _make_clients(specs, identities, registry)
                write_message(out, ("ok", None))
            elif command == "inputs":
                write_message(out, ("ok", _set_inputs(clients, args[0])))
            elif command == "shared_inputs":
                name, shape, dtype, rows = args
                matrix = attached.matrix(name, shape, dtype)
                failed = _set_inputs(clients, {cid: matrix[row] for cid, row in rows.items()})
                del matrix
                write_message(out, ("ok", failed))
            elif command == "handle":
                # outcomes go back in a few batches: the server starts on the first ones early,
                # without waking the caller once per client
                requests = args[0]
                flush_every = max(1, min(len(requests) // _BATCHES, _MAX_BATCH))
                batch = []
                for cid, request in requests:
                    outcome = _run_request(clients, cid, request)
                    if outcome.error is not None:
                        outcome = dataclasses.replace(outcome, error=portable_error(outcome.error))
                    batch.append(outcome)
                    if len(batch) >= flush_every:
                        write_message(out, ("outcomes", batch))
                        batch = []
                if batch:
                    write_message(out, ("outcomes", batch))
                write_message(out, ("done", None))
            elif command == "end":
                clients, identities = {}, {}
                attached.close()  # the clients (and their views of the inputs) are gone
                write_message(out, ("ok", None))
            else:
                write_message(out, ("crash", f"unknown command {command!r}"))
        except SecAggError as exc:
            write_message(out, ("error", portable_error(exc)))
        except Exception:  # noqa: BLE001 - report it and keep serving
            write_message(out, ("crash", traceback.format_exc()))


class ClientPool:
    """``workers`` processes hosting the clients of one session at a time (round-robin by id)."""

    def __init__(self, workers: int = 2) -> None:
        self.workers = check_workers(workers)
        self._procs: list[subprocess.Popen[bytes]] = []
        self._inbox: queue.Queue[tuple[int, tuple[Any, ...] | None]] = queue.Queue()
        self._owner: dict[int, int] = {}
        self._row: dict[int, int] = {}  # client id -> its row in the session's shared matrix
        self._rows = _SharedRows()

    # --- life cycle --------------------------------------------------------------------
    def _start(self) -> None:
        if self._procs and all(p.poll() is None for p in self._procs):
            return
        self.close()
        code = "from secagg.sim.client_pool import serve; serve()"
        for w in range(self.workers):
            proc = start_worker(code)
            self._procs.append(proc)
            threading.Thread(target=self._pump, args=(w, proc.stdout), daemon=True,
                             name=f"secagg-client-pool-{w}").start()
        self._gather(range(self.workers), timeout=_START_TIMEOUT)

    def _pump(self, worker: int, stream: IO[bytes]) -> None:
        """Reader thread: forward each message of one worker to the shared inbox."""
        inbox = self._inbox  # this pool generation's inbox (close() replaces it)
        while True:
            try:
                message = read_message(stream)
            except (OSError, ValueError, pickle.UnpicklingError, EOFError):
                message = None
            inbox.put((worker, message))
            if message is None:
                return

    def close(self) -> None:
        """Stop the workers (idempotent); a later session starts new ones."""
        for proc in self._procs:
            try:
                assert proc.stdin is not None
                write_message(proc.stdin, ("stop",))
                proc.stdin.close()
            except (OSError, ValueError):
                pass
        for proc in self._procs:
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            if proc.stdout is not None:
                proc.stdout.close()
        self._procs, self._owner = [], {}
        self._inbox = queue.Queue()
        self._rows.close()

    def __enter__(self) -> ClientPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:  # pragma: no cover - best effort at interpreter exit
        try:
            self.close()
        except Exception:  # noqa: BLE001
            pass

    # --- messaging -----------------------------------------------------------------------
    def _send(self, worker: int, *message: Any) -> None:
        try:
            stdin = self._procs[worker].stdin
            assert stdin is not None
            write_message(stdin, message)
        except (OSError, ValueError) as exc:
            self.close()
            raise WorkerError(f"client worker {worker} is gone ({exc.__class__.__name__})") from None

    def _next(self, timeout: float | None = None) -> tuple[int, tuple[Any, ...]]:
        """The next (worker, message); raises WorkerError if a worker died or failed."""
        try:
            worker, message = self._inbox.get(timeout=timeout)
        except queue.Empty:
            self.close()
            raise WorkerError(f"no answer from the client workers within {timeout:.0f} s") from None
        if message is None:
            code = self._procs[worker].poll() if worker < len(self._procs) else None
            self.close()
            raise WorkerError(f"client worker {worker} died (exit code {code})")
        if message[0] == "crash":  # a bug, not a protocol error: the pool's state is suspect
            self.close()
            raise WorkerError(f"client worker {worker} failed:\n{message[1]}")
        return worker, message

    def _gather(self, workers: Sequence[int] | range, timeout: float | None = None) -> dict[int, Any]:
        """One answer from each of ``workers``: worker -> payload (re-raises a client error)."""
        pending, answers, error = set(workers), {}, None
        while pending:
            worker, message = self._next(timeout)
            pending.discard(worker)
            if message[0] == "error":
                error = message[1]
            else:
                answers[worker] = message[1]
        if error is not None:
            raise error
        return answers

    def _all(self, per_worker: Sequence[tuple[Any, ...]]) -> list[Any]:
        for w, message in enumerate(per_worker):
            self._send(w, *message)
        answers = self._gather(range(len(per_worker)))
        return [answers[w] for w in range(len(per_worker))]

    # --- one session -----------------------------------------------------------------------
    def begin(self, specs: Mapping[int, ClientSpec], *, identities: bool = False) -> dict[int, bytes]:
        """Host a new session's clients (replacing the last one's).

        With ``identities`` each client first creates its Ed25519 identity key in its worker; the
        returned registry (id -> public key) is handed to every client, as a real deployment's
        registration would. Returns that registry (empty without identities).
        """
        self._start()
        ids = sorted(specs)
        self._owner = {cid: i % self.workers for i, cid in enumerate(ids)}
        self._row = {cid: i for i, cid in enumerate(ids)}
        self._rows.reset()
        shards: list[list[int]] = [[] for _ in range(self.workers)]
        for cid in ids:
            shards[self._owner[cid]].append(cid)
        registry: dict[int, bytes] = {}
        if identities:
            for part in self._all([("identities", shard) for shard in shards]):
                registry.update(part)
        self._all([("session", {cid: specs[cid] for cid in shard}, registry) for shard in shards])
        return registry

    def provide(self, updates: Mapping[int, np.ndarray]) -> dict[int, SecAggError]:
        """Hand the hosted clients their inputs (through shared memory); returns the refusals."""
        ids = sorted(updates)
        unknown = [cid for cid in ids if cid not in self._owner]
        if unknown:
            raise WorkerError(f"clients {unknown[:5]} are not hosted by this pool's session")
        if not ids:
            return {}
        arrays = [np.asarray(updates[cid]) for cid in ids]
        failed: dict[int, SecAggError] = {}
        busy = sorted({self._owner[cid] for cid in ids})
        if sum(a.nbytes for a in arrays) > _DIRECT_BYTES and self._rows.fits(len(self._row), arrays):
            # many megabytes: into this session's shared matrix, one row per client
            name, shape, dtype = self._rows.put({self._row[cid]: a for cid, a in zip(ids, arrays)},
                                                len(self._row))
            rows: list[dict[int, int]] = [{} for _ in range(self.workers)]
            for cid in ids:
                rows[self._owner[cid]][cid] = self._row[cid]
            commands = {w: ("shared_inputs", name, shape, dtype, rows[w]) for w in busy}
        else:  # a few clients (or odd inputs, which the clients will judge): through the pipes
            shards: list[dict[int, np.ndarray]] = [{} for _ in range(self.workers)]
            for cid, a in zip(ids, arrays):
                shards[self._owner[cid]][cid] = a
            commands = {w: ("inputs", shards[w]) for w in busy}
        for w, command in commands.items():
            self._send(w, *command)
        for part in self._gather(busy).values():
            failed.update(part)
        return failed

    def handle(self, requests: Sequence[tuple[int, bytes]]) -> Iterator[Outcome]:
        """Deliver each (client id, request); yield outcomes in the order they complete."""
        batches: list[list[tuple[int, bytes]]] = [[] for _ in range(self.workers)]
        for cid, request in requests:
            if cid not in self._owner:
                raise WorkerError(f"client {cid} is not hosted by this pool's session")
            batches[self._owner[cid]].append((cid, request))
        busy = {w for w, batch in enumerate(batches) if batch}
        for w in busy:
            self._send(w, "handle", batches[w])
        try:
            while busy:
                worker, message = self._next()
                if message[0] == "done":
                    busy.discard(worker)
                    continue
                yield from message[1]
        finally:
            # the caller stopped early (e.g. the server raised): drain so the streams stay in step
            while busy and self._procs:
                worker, message = self._next()
                if message[0] == "done":
                    busy.discard(worker)

    def end(self) -> None:
        """Forget the session's clients (and their secrets) in every worker."""
        self._owner = {}
        if self._procs:
            try:
                self._all([("end",)] * self.workers)
            except WorkerError:
                pass  # a dead worker holds no secrets; the next session starts a fresh pool


class InProcessClients:
    """The same interface as :class:`ClientPool`, with the clients in the calling process."""

    def __init__(self) -> None:
        self._clients: dict[int, Any] = {}

    def begin(self, specs: Mapping[int, ClientSpec], *, identities: bool = False) -> dict[int, bytes]:
        from ..core.crypto import IdentityKey

        keys = {cid: IdentityKey() for cid in specs} if identities else {}
        registry = {cid: key.public for cid, key in keys.items()}
        self._clients = _make_clients(specs, keys, registry)
        return registry

    def provide(self, updates: Mapping[int, np.ndarray]) -> dict[int, SecAggError]:
        return _set_inputs(self._clients, updates)

    def handle(self, requests: Sequence[tuple[int, bytes]]) -> Iterator[Outcome]:
        for cid, request in requests:
            yield _run_request(self._clients, cid, request)

    def end(self) -> None:
        self._clients = {}


class LazyPool:
    """An aggregator's pool: none for ``workers == 1``, else started on first use and reused."""

    def __init__(self, workers: int = 1) -> None:
        self.workers = check_workers(workers)
        self._pool: ClientPool | None = None

    def get(self) -> ClientPool | None:
        if self.workers == 1:
            return None
        if self._pool is None:
            self._pool = ClientPool(self.workers)
        return self._pool

    def close(self) -> None:
        if self._pool is not None:
            self._pool.close()
            self._pool = None
