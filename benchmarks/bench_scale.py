"""Scale benchmark: one SecAgg+ session at n = 1,000 / 10,000 / 100,000 clients, d = 10^4.

    python benchmarks/bench_scale.py [--n 1000 10000] [--d 10000] [--backend NAME] [--json FILE]

Each point runs in a fresh interpreter (so its peak memory is its own), and inside it the server
state machine runs in a process of its own: the session driver talks to it through a pipe
(:class:`RemoteServer`: ``start`` / ``receive`` / ``advance``, the stage's requests fetched in
batches as the driver reads them, replies sent one way without awaiting an answer; a rejected
reply is listed at the end and fails the point). So the server's peak RSS is measured in the server's own
process (``VmHWM`` of that process, and its growth above the RSS it had before the session),
apart from the simulated clients and the driver, whose process's peak RSS is reported too.

Inputs are drawn lazily, client by client, from a seed (uniform in [-1, 1], float64): no n x d
matrix exists. The result is checked against the exact sum of the included clients' quantized
inputs (drawn again from the same seeds). Reported per point: session wall time, the server's
time measured in its own process (wall and CPU; pipe transfer excluded), the driver's view of
server time (pipe included), client CPU, peak RSS of the server process and of the driver
process, k and t. The baseline measured in the same run is the smallest n: the table shows each
point's growth against it (time per client, server memory) so the scaling is visible.

``--backend`` is passed to ``make_session`` when this version of ``secagg`` has client backends
(``backend=``); without it the clients run in the driver's process (in-process), the default.
"""

from __future__ import annotations

import argparse
import inspect
import json
import multiprocessing as mp
import os
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from types import SimpleNamespace

import numpy as np

Q = 2**16


def _status(field: str) -> float:
    """A /proc/self/status field in MiB (VmRSS, VmHWM)."""
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    return float("nan")


class SeededInputs(Mapping[int, np.ndarray]):
    """client id -> its input, drawn from (seed, id) every time it is read (never stored)."""

    def __init__(self, n: int, d: int, seed: int) -> None:
        self.n, self.d, self.seed = n, d, seed

    def __getitem__(self, cid: int) -> np.ndarray:
        if not 0 <= cid < self.n:
            raise KeyError(cid)
        return np.random.default_rng([self.seed, cid]).uniform(-1.0, 1.0, self.d)

    def __iter__(self) -> Iterator[int]:
        return iter(range(self.n))

    def __len__(self) -> int:
        return self.n


# --- the server in its own process -------------------------------------------------------------
def _serve(conn, config, registry) -> None:  # type: ignore[no-untyped-def]
    """Child process: host one SecAggServer; answer calls until told to stop."""
    from secagg.protocol.server import SecAggServer

    base = _status("VmRSS")
    server = SecAggServer(config, identity_registry=registry)
    requests: Mapping[int, bytes] = {}
    rejected: dict[int, str] = {}
    wall = cpu = 0.0
    while True:
        op, args = conn.recv()
        if op == "stop":
            conn.send(("ok", {"server_wall_s": wall, "server_cpu_s": cpu, "base_rss_mib": base,
                              "peak_rss_mib": _status("VmHWM"), "rejected": rejected}))
            return
        t0, c0 = time.perf_counter(), time.process_time()
        if op == "receive":  # one-way (no reply awaited: a round trip per reply would dominate)
            try:
                server.receive(*args)
            except Exception as exc:  # noqa: BLE001 - reported at the end; the sum check fails too
                rejected[args[0]] = f"{type(exc).__name__}: {exc}"
            wall += time.perf_counter() - t0
            cpu += time.process_time() - c0
            continue
        try:
            if op == "get":  # the asked ids, or as many as fit in 16 MiB, or 16 MiB (round 0's requests carry the cohort)
                out, size = [], 0
                for cid in args:
                    out.append(requests[cid])
                    size += len(out[-1])
                    if size >= 16 << 20:
                        break
            elif op in ("start", "advance"):
                requests = server.start() if op == "start" else server.advance()
                out = list(requests)
            elif op == "abort":
                out = server.abort(*args)
            elif op == "state":
                out = (server.stage, server.result, server.ctx.graph, _status("VmHWM"))
            else:
                raise ValueError(f"unknown call {op!r}")
            reply = ("ok", out)
        except Exception as exc:  # noqa: BLE001 - travels back and is raised in the driver
            reply = ("err", exc)
        wall += time.perf_counter() - t0
        cpu += time.process_time() - c0
        conn.send(reply)


class _RemoteRequests(Mapping[int, bytes]):
    """A stage's requests held by the server process, fetched ``batch`` at a time as read."""

    def __init__(self, server: RemoteServer, ids: list[int], batch: int = 128) -> None:
        self._server, self._ids, self._batch = server, ids, batch
        self._pos = {cid: i for i, cid in enumerate(ids)}
        self._cache: dict[int, bytes] = {}

    def __getitem__(self, cid: int) -> bytes:
        if cid not in self._cache:
            start = self._pos[cid]
            chunk = self._ids[start:start + self._batch]
            self._cache = dict(zip(chunk, self._server._call("get", chunk)))  # a prefix of chunk
        return self._cache.pop(cid)

    def __iter__(self) -> Iterator[int]:
        return iter(self._ids)

    def __len__(self) -> int:
        return len(self._ids)

    def __contains__(self, cid: object) -> bool:
        return cid in self._pos


class RemoteServer:
    """The parts of :class:`~secagg.protocol.server.SecAggServer` a session driver uses, with the
    server itself in a child process."""

    def __init__(self, config, identity_registry, progress: bool = False) -> None:  # type: ignore[no-untyped-def]
        ctx = mp.get_context("spawn")
        self._conn, child = ctx.Pipe()
        self._proc = ctx.Process(target=_serve, args=(child, config, dict(identity_registry)), daemon=True)
        self._proc.start()
        child.close()
        self.config, self.progress, self._t0 = config, progress, time.perf_counter()
        self.stage, self.result, self.ctx = None, None, SimpleNamespace(graph=None)

    def _call(self, op: str, *args: object) -> object:
        self._conn.send((op, args[0] if op == "get" else args))
        status, value = self._conn.recv()
        if status == "err":
            self._refresh()
            raise value  # type: ignore[misc]
        return value

    def _refresh(self) -> None:
        self.stage, self.result, self.ctx.graph, peak = self._call("state")  # type: ignore[misc]
        if self.progress:  # a long run reports as it goes (stderr), so a partial run still tells
            print(f"  [{time.perf_counter() - self._t0:8.1f} s] stage {self.stage.name:<17} server peak "
                  f"{peak:7.0f} MiB, driver {_status('VmRSS'):7.0f} MiB", file=sys.stderr, flush=True)

    def _requests(self, op: str) -> Mapping[int, bytes]:
        ids = self._call(op)
        self._refresh()
        return _RemoteRequests(self, ids) if ids else {}  # type: ignore[arg-type]

    def start(self) -> Mapping[int, bytes]:
        return self._requests("start")

    def advance(self) -> Mapping[int, bytes]:
        return self._requests("advance")

    def receive(self, client_id: int, data: bytes) -> None:
        """Sent without waiting: the server process handles replies in order, before any later call;
        a rejected reply is not raised here but listed by :meth:`stop` (an honest run has none)."""
        self._conn.send(("receive", (client_id, data)))

    def abort(self, reason: str) -> dict[int, bytes]:
        out = self._call("abort", reason)
        self._refresh()
        return out  # type: ignore[return-value]

    def stop(self) -> dict[str, float]:
        """End the server process; its own figures (time, peak RSS)."""
        self._conn.send(("stop", ()))
        _, figures = self._conn.recv()
        self._proc.join(timeout=60)
        return figures  # type: ignore[return-value]


# --- one point -----------------------------------------------------------------------------------
def run_point(n: int, d: int, seed: int, backend: str | None) -> dict:
    import secagg
    from secagg.sim.session import make_session

    inputs = SeededInputs(n, d, seed)
    rng = np.random.default_rng(seed)
    rounding = {cid: rng.bytes(32) for cid in range(n)}
    options = {}
    if backend is not None:
        if "backend" not in inspect.signature(make_session).parameters:
            raise SystemExit(f"--backend {backend}: this secagg has no client backends (make_session(backend=))")
        options["backend"] = backend
    driver_base = _status("VmRSS")
    start = time.perf_counter()
    session = make_session(list(range(n)), vector_length=d, protocol="secagg+", clipping_range=1.0,
                           quantization_range=Q, rounding_seeds=rounding, **options)
    local = session.server  # built by make_session; its twin runs in a process of its own
    session.server = RemoteServer(local.config, local.ctx.identity_registry, progress=n >= 10_000)  # type: ignore[assignment]
    del local
    try:
        res = session.finish(inputs)
    finally:
        server = session.server.stop()  # type: ignore[attr-defined]
    wall = time.perf_counter() - start
    r = res.config.modulus_range
    expected = np.zeros(d, dtype=np.uint64)
    for cid in sorted(res.included):
        expected += secagg.quantize(inputs[cid], clipping_range=1.0, quantization_range=Q,
                                    rounding_seed=rounding[cid]).astype(np.uint64)
    correct = bool(np.array_equal(expected & np.uint64(r - 1), res.quantized_sum.astype(np.uint64)))
    return {"n": n, "d": d, "k": res.params.degree, "t": res.params.threshold, "bits": res.config.bits,
            "included": len(res.included), "session_s": wall, "server_s": server["server_wall_s"],
            "server_cpu_s": server["server_cpu_s"], "server_s_via_pipe": res.seconds["server"],
            "client_cpu_s": res.seconds["client_cpu"], "server_peak_rss_mib": server["peak_rss_mib"],
            "server_base_rss_mib": server["base_rss_mib"],
            "driver_peak_rss_mib": _status("VmHWM"), "driver_base_rss_mib": driver_base,
            "rejected": server["rejected"], "backend": backend or "inprocess",
            "correct": correct and not server["rejected"], "load": os.getloadavg()}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, nargs="+", default=[1000, 10000], help="client counts (default 1000 10000)")
    ap.add_argument("--d", type=int, default=10_000, help="vector length (default 10000)")
    ap.add_argument("--seed", type=int, default=0, help="seed of the synthetic inputs")
    ap.add_argument("--backend", default=None, help="client backend passed to make_session (default: in process)")
    ap.add_argument("--json", help="write the rows as JSON to this file")
    ap.add_argument("--point", action="store_true", help=argparse.SUPPRESS)  # internal: one point, JSON out
    args = ap.parse_args(argv)
    if args.point:
        print(json.dumps(run_point(args.n[0], args.d, args.seed, args.backend)))
        return 0
    head = (f"{'n':>7} {'d':>6} {'k':>4} {'t':>4} {'session s':>10} {'ms/client':>9} {'server s':>9} "
            f"{'srv cpu':>8} {'server MiB':>10} {'x base':>7} {'driver MiB':>10} ok")
    print(head, flush=True)
    rows = []
    for n in args.n:
        cmd = [sys.executable, os.path.abspath(__file__), "--point", "--n", str(n), "--d", str(args.d),
               "--seed", str(args.seed)] + (["--backend", args.backend] if args.backend else [])
        done = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=None, text=True)  # progress shows as it goes
        if done.returncode:
            print(f"{n:>7} failed (exit status {done.returncode}; its error is above)", flush=True)
            rows.append({"n": n, "d": args.d, "error": f"exit status {done.returncode}", "correct": False})
            continue
        row = json.loads(done.stdout.strip().splitlines()[-1])
        rows.append(row)
        base = next(r for r in rows if "error" not in r)
        growth = row["server_peak_rss_mib"] / base["server_peak_rss_mib"]
        print(f"{n:>7} {row['d']:>6} {row['k']:>4} {row['t']:>4} {row['session_s']:>10.1f} "
              f"{1e3 * row['session_s'] / n:>9.2f} {row['server_s']:>9.2f} {row['server_cpu_s']:>8.2f} "
              f"{row['server_peak_rss_mib']:>10.0f} {growth:>6.2f}x {row['driver_peak_rss_mib']:>10.0f} "
              f"{'yes' if row['correct'] else 'NO'}   (load {row['load'][0]:.1f})", flush=True)
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"rows": rows, "cpus": os.cpu_count()}, fh, indent=2)
    return 0 if rows and all(r["correct"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
