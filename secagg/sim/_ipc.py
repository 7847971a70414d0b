"""Messages between this package's processes: length-prefixed pickles over the pipes of a child
interpreter started with ``python -c`` (both ends are this package; nothing else reads them)."""

from __future__ import annotations

import os
import pickle
import struct
import subprocess
import sys
from pathlib import Path
from typing import IO, Any

from ..errors import SecAggError

try:
    import fcntl as fcntl_module
except ImportError:  # pragma: no cover - Windows: default pipe buffers
    fcntl_module = None  # type: ignore[assignment]

_HEADER = struct.Struct("<Q")
_PIPE_BYTES = 1 << 20  # Linux's default pipe-max-size for unprivileged processes
NICENESS = 5  # workers yield the CPU to the calling process (which trains and runs the server)


def write_message(stream: IO[bytes], message: tuple[Any, ...]) -> None:
    data = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    stream.write(_HEADER.pack(len(data)))
    stream.write(data)
    stream.flush()


def read_message(stream: IO[bytes]) -> tuple[Any, ...] | None:
    """The next message, or None at end of stream."""
    head = stream.read(_HEADER.size)
    if len(head) < _HEADER.size:
        return None
    (size,) = _HEADER.unpack(head)
    data = stream.read(size)
    if len(data) < size:
        return None
    return pickle.loads(data)


def portable_error(exc: SecAggError) -> SecAggError:
    """``exc`` if it survives pickling, else a plain SecAggError of the same message."""
    try:
        pickle.loads(pickle.dumps(exc))
        return exc
    except Exception:  # noqa: BLE001 - any pickling failure: fall back to the message
        return SecAggError(f"{type(exc).__name__}: {exc}")


def worker_streams() -> tuple[IO[bytes], IO[bytes]]:
    """Set up a worker process: lower its priority (background protocol work must not slow the
    caller's local training) and keep stdout for messages (anything printed goes to stderr).
    Returns (messages in, messages out)."""
    if hasattr(os, "nice"):
        try:
            os.nice(NICENESS)
        except OSError:
            pass
    out = os.fdopen(os.dup(sys.stdout.fileno()), "wb")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    return sys.stdin.buffer, out


def widen_pipe(stream: IO[bytes] | None) -> None:
    """Ask Linux for a 1 MiB pipe buffer (best effort): a masked vector then crosses in one or two
    reads, each of which the reader thread must win the GIL back for from the training thread."""
    if stream is None or not hasattr(fcntl_module, "F_SETPIPE_SZ"):
        return
    try:
        fcntl_module.fcntl(stream.fileno(), fcntl_module.F_SETPIPE_SZ, _PIPE_BYTES)  # type: ignore[attr-defined]
    except OSError:
        pass


PACKAGE_ROOT = str(Path(__file__).resolve().parents[1])
"""The directory holding this ``secagg`` package: a child started there with ``python -c`` (which
puts its working directory first on sys.path) imports this very package, never a source checkout
that happens to be the caller's working directory."""


def start_worker(code: str) -> subprocess.Popen[bytes]:
    """``python -c code`` with message pipes on stdin/stdout, importing this package."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (PACKAGE_ROOT, env.get("PYTHONPATH")) if p)
    env.setdefault("SECAGG_THREADS", "1")  # one worker per core already: no native threads
    proc = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, env=env, cwd=PACKAGE_ROOT)
    for stream in (proc.stdin, proc.stdout):
        widen_pipe(stream)
    return proc
