"""An aggregator run in its own process, so its server work never competes with local training.

In a simulation the trainer's process trains the clients one after another. If the secure
aggregator's server (and its threads) lived in that process, every message it handles would take
the GIL from the training loop. :class:`AggregatorProcess` hosts any registered aggregator in a
separate interpreter (the "coordinator") and forwards the :class:`~secagg.aggregators.base.Aggregator`
calls: ``prepare`` and ``submit`` are one-way messages (the coordinator works on them while the
trainer goes on training), ``aggregate`` waits for the result. Errors raised by the coordinator
come back as the same exception types.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Mapping, Sequence
from typing import IO, Any

import numpy as np

from .._validate import check_options
from ..errors import InputError, SecAggError, WorkerError
from ..protocol.stage import DropoutSchedule, check_dropouts
from ..sim._ipc import (
    portable_error,
    read_message,
    start_worker,
    worker_streams,
    write_message,
)
from .base import (
    AggregationResult,
    Aggregator,
    changed_submissions,
    check_updates,
    submission_changed_error,
)
from .registry import aggregator_options

_START_TIMEOUT = 120.0


def serve() -> None:
    """Body of the coordinator process: build the aggregator, then answer calls until stopped."""
    from .registry import create_aggregator

    inp, out = worker_streams()  # below the trainer's priority; stdout kept for messages
    hello = read_message(inp)
    if hello is None:
        return
    try:
        aggregator = create_aggregator(hello[1], **hello[2])
    except SecAggError as exc:
        write_message(out, ("error", portable_error(exc)))
        return
    write_message(out, ("ok", None))
    pending: SecAggError | None = None  # an error of a one-way call, reported by aggregate
    submitted: dict[int, np.ndarray] = {}
    cpu0 = time.process_time()
    while True:
        message = read_message(inp)
        if message is None or message[0] == "stop":
            aggregator.close()
            return
        command, *args = message
        try:
            if command == "prepare":
                pending, submitted, cpu0 = None, {}, time.process_time()
                aggregator.prepare(args[0], vector_length=args[1], dropouts=args[2], round_index=args[3])
            elif command == "submit":
                submitted[args[0]] = args[1]
                if pending is None:
                    aggregator.submit(args[0], args[1])
            elif command == "aggregate":
                rest, dropouts, round_index = args
                if pending is not None:
                    raise pending
                result = aggregator.aggregate({**submitted, **rest}, dropouts=dropouts,
                                              round_index=round_index)
                # everything this process and its workers spent is CPU outside the caller's clock
                result.seconds["worker_cpu"] = (float(result.seconds.get("worker_cpu", 0.0))
                                                + time.process_time() - cpu0)
                submitted, cpu0 = {}, time.process_time()
                write_message(out, ("ok", result))
            elif command == "close":
                aggregator.close()
                write_message(out, ("ok", None))
        except SecAggError as exc:
            if command in ("prepare", "submit"):
                pending = pending or exc
            else:
                submitted, pending = {}, None
                write_message(out, ("error", portable_error(exc)))


class AggregatorProcess(Aggregator):
    """The aggregator ``name`` (built with ``options``) in a coordinator process of its own."""

    def __init__(self, name: str, **options: Any) -> None:
        """Option names are checked here, against what ``name`` takes; their values when the
        coordinator builds the aggregator (at the first call), with the same errors."""
        check_options(f"aggregator {name!r}", options, aggregator_options(name))
        self.name = name  # type: ignore[misc]
        self._options = options
        self._proc: subprocess.Popen[bytes] | None = None
        self._submitted: dict[int, np.ndarray] = {}

    # --- the coordinator ---------------------------------------------------------------------
    def _start(self) -> subprocess.Popen[bytes]:
        if self._proc is not None and self._proc.poll() is None:
            return self._proc
        proc = start_worker("from secagg.aggregators.process import serve; serve()")
        self._proc = proc
        self._send("hello", self.name, self._options)
        self._answer()
        return proc

    def _send(self, *message: Any) -> None:
        assert self._proc is not None and self._proc.stdin is not None
        try:
            write_message(self._proc.stdin, message)
        except (OSError, ValueError) as exc:
            self._kill()
            raise WorkerError(f"the {self.name} coordinator process is gone ({type(exc).__name__})") from None

    def _answer(self) -> Any:
        assert self._proc is not None and self._proc.stdout is not None
        stream: IO[bytes] = self._proc.stdout
        message = read_message(stream)
        if message is None:
            code = self._proc.poll()
            self._kill()
            raise WorkerError(f"the {self.name} coordinator process died (exit code {code})")
        if message[0] == "error":
            raise message[1]
        return message[1]

    def _kill(self) -> None:
        if self._proc is not None:
            self._proc.kill()
            self._proc.wait()
            for stream in (self._proc.stdin, self._proc.stdout):
                if stream is not None:
                    stream.close()
            self._proc = None

    # --- the Aggregator interface -------------------------------------------------------------
    def prepare(self, client_ids: Sequence[int], *, vector_length: int,
                dropouts: DropoutSchedule | None = None, round_index: int = 0) -> None:
        super().prepare(client_ids, vector_length=vector_length, dropouts=dropouts, round_index=round_index)
        assert self._prepared_round is not None
        prepared, self._submitted = self._prepared_round, {}
        self._start()
        self._send("prepare", list(prepared.client_ids), prepared.vector_length, prepared.dropouts, round_index)

    def submit(self, client_id: int, update: np.ndarray) -> None:
        super().submit(client_id, update)  # checked here, before it crosses to the coordinator
        arr = np.array(update)  # a copy: the coordinator gets what the caller had at this moment
        self._submitted[client_id] = arr
        self._send("submit", client_id, arr)

    def aggregate(self, updates: Mapping[int, np.ndarray], *, dropouts: DropoutSchedule | None = None,
                  round_index: int = 0) -> AggregationResult:
        ids, length = check_updates(updates)
        dropouts = check_dropouts(dropouts, ids)
        submitted, self._submitted, prepared, self._prepared_round = self._submitted, {}, self._prepared_round, None
        if prepared is not None and (self._proc is None or self._proc.poll() is not None):
            code = None if self._proc is None else self._proc.poll()
            self._kill()
            raise WorkerError(f"the {self.name} coordinator process died during the round (exit code "
                              f"{code}); the round is lost, the next one starts a new process")
        self._start()
        if prepared is not None and (prepared.client_ids != tuple(ids) or prepared.vector_length != length):
            self._send("aggregate", {}, {}, round_index)  # ends the prepared round (an error)
            try:
                self._answer()
            except SecAggError:
                pass
            raise InputError("aggregate() must get the updates of exactly the clients passed to "
                             "prepare(), of the length given there")
        changed = changed_submissions(submitted, updates)
        rest = {cid: updates[cid] for cid in ids if cid not in submitted}
        self._send("aggregate", rest, dict(dropouts or {}), round_index)
        result = self._answer()
        if changed:
            raise submission_changed_error(changed)
        return result  # type: ignore[no-any-return]

    def close(self) -> None:
        """Stop the coordinator (and its worker processes); a later round starts a new one."""
        if self._proc is not None and self._proc.poll() is None:
            try:
                self._send("stop")
                self._proc.wait(timeout=10)
            except (WorkerError, subprocess.TimeoutExpired):
                pass
        self._kill()
        self._prepared_round, self._submitted = None, {}

    def __del__(self) -> None:  # pragma: no cover - best effort at interpreter exit
        try:
            self.close()
        except Exception:  # noqa: BLE001
            pass
