"""Network benchmark: SecAgg+ training rounds over gRPC + TLS on loopback versus the in-process
simulation of the same sessions (same n, d, threat model and graph parameters).

    python benchmarks/bench_network.py [--points 20,100] [--d 10000] [--rounds 3] [--json FILE]

The server runs as its own process (``secagg server``); the n clients run as threads of this
process (NetClient, with a fixed pre-computed update so local training costs nothing), so, like
the simulation, all client work shares one Python process. Reported per round: wall-clock round
latency (server side, from the database: first request to recorded result) and server CPU time
(user + system of the server process, /proc), against the simulation's wall time and its server
time. Round 1 is a warm-up and is not counted. Every network round's sum is checked exactly
against the clients' quantized updates.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

from secagg.core.quantize import quantize
from secagg.net.certs import make_certificates
from secagg.net.client import NetClient
from secagg.net.store import Store
from secagg.sim.session import simulate

Q = 2**16
DROPOUT_FRACTION = 0.3
THREAT = "active"


class FixedTrainer:
    """Returns a precomputed update (synthetic data; numpy.random on purpose)."""

    def __init__(self, update: np.ndarray) -> None:
        self.update = update

    def train(self, model, config) -> np.ndarray:
        return self.update


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rounds_recorded(db: Path) -> list:
    if not db.exists():
        return []
    try:
        s = Store(db)
    except Exception:  # noqa: BLE001 - the server may be creating it
        return []
    try:
        return s.rounds()
    finally:
        s.close()


def wait_until(pred, timeout: float, what: str) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return
        time.sleep(0.05)
    raise TimeoutError(f"timed out waiting for {what}")


def run_network(n: int, d: int, rounds: int, tmp: Path) -> dict:
    factors = 9
    n_items = max(1, d // (factors + 1))
    d = n_items * (factors + 1)
    certs = make_certificates(tmp / "tls")
    db, port_file = tmp / f"n{n}.db", tmp / f"n{n}.port"
    rng = np.random.default_rng(n)
    updates = [rng.uniform(-1, 1, d).astype(np.float32) * (0.99 / np.sqrt(d)) for _ in range(n)]
    server = subprocess.Popen(
        [sys.executable, "-m", "secagg.cli", "server", "--db", str(db), "--cert", str(certs.cert),
         "--key", str(certs.key), "--address", "127.0.0.1:0", "--port-file", str(port_file),
         "--n-items", str(n_items), "--factors", str(factors), "--rounds", str(rounds), "--clip-norm", "1.0",
         "--clients-per-round", str(n), "--min-clients", str(n), "--threat-model", THREAT,
         "--dropout-fraction", str(DROPOUT_FRACTION), "--stage-timeout", "120",
         "--training-timeout", "120", "--liveness-timeout", "60",
         "--insecure-open-enrolment",  # measures rounds; bench_pki.py measures the certificate checks
         "--log-file", str(tmp / f"n{n}.jsonl")],
        stdout=subprocess.DEVNULL, stderr=open(tmp / f"n{n}.err", "wb"), stdin=subprocess.DEVNULL,
        cwd=tmp)  # outside the repository, so the installed package is the one imported
    clients: list[NetClient] = []
    threads: list[threading.Thread] = []
    seen: dict[tuple[int, int], tuple[np.ndarray, bytes]] = {}  # what each client masked, to check the sum

    def record(rec) -> None:
        seen[(rec.round, rec.client_id)] = (rec.update, rec.rounding_seed)

    try:
        wait_until(port_file.exists, 60, "the server to listen")
        port = int(port_file.read_text())
        for i in range(n):
            c = NetClient(f"127.0.0.1:{port}", ca=certs.ca, state_dir=tmp / f"n{n}c{i}",
                          trainer=FixedTrainer(updates[i]), model_shape=(n_items, factors),
                          poll_wait=1.0, backoff=(0.05, 1.0),
                          on_update=record, logger=_quiet_logger(), trust_server_keys=True)
            clients.append(c)
            t = threading.Thread(target=c.run, kwargs={"max_seconds": 60 + 60 * rounds}, daemon=True)
            threads.append(t)
            t.start()
        wait_until(lambda: len(rounds_recorded(db)) >= 1, 300, "the warm-up round")
        cpu0 = cpu_seconds(server.pid)
        wait_until(lambda: len(rounds_recorded(db)) >= rounds, 300 * rounds, "the measured rounds")
        cpu1 = cpu_seconds(server.pid)
    finally:
        for c in clients:
            c.stop()
        for t in threads:
            t.join(10)
        for c in clients:
            c.close()
        server.terminate()
        try:
            server.wait(10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(10)
    recs = rounds_recorded(db)
    measured = recs[1:rounds]
    for r in recs:
        assert r.status == "completed" and len(r.included) == n, (r.round, r.status, r.abort_reason)
        acc = np.zeros(d, np.uint64)
        for cid in r.included:
            update, rounding_seed = seen[(r.round, cid)]
            acc += quantize(update, clipping_range=1.0, quantization_range=Q,
                            rounding_seed=rounding_seed).astype(np.uint64)
        assert np.array_equal(acc & np.uint64(r.modulus_range - 1), r.quantized_sum), "wrong sum"
    latency = float(np.mean([r.finished - r.started for r in measured]))
    return {"d": d, "latency": latency, "server_cpu": (cpu1 - cpu0) / len(measured),
            "stages": measured[-1].stages}


def _quiet_logger():
    import logging

    from secagg.net.logs import get_logger

    return get_logger("bench.client", stream=open(os.devnull, "w"), level=logging.WARNING)


def run_simulation(n: int, d: int, repeats: int) -> dict:
    rng = np.random.default_rng(n)
    inputs = {cid: rng.uniform(-1, 1, d) * (0.99 / np.sqrt(d)) for cid in range(n)}
    walls, servers = [], []
    for _ in range(repeats):
        cpu0 = time.perf_counter()
        res = simulate(inputs, protocol="secagg+", threat_model=THREAT, dropout_fraction=DROPOUT_FRACTION,
                       clipping_range=1.0, quantization_range=Q)
        walls.append(time.perf_counter() - cpu0)
        servers.append(res.seconds["server"])
        assert len(res.included) == n
    return {"wall": float(np.mean(walls)), "server": float(np.mean(servers))}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--points", default="20,100", help="comma-separated client counts (default 20,100)")
    ap.add_argument("--d", type=int, default=10_000, help="vector length (default 10000)")
    ap.add_argument("--rounds", type=int, default=3, help="network rounds incl. 1 warm-up (default 3)")
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args(argv)
    if args.rounds < 2:
        ap.error("--rounds must be >= 2 (the first is a warm-up)")
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench_network_") as tmp:
        for n in (int(x) for x in args.points.split(",")):
            net = run_network(n, args.d, args.rounds, Path(tmp))
            sim = run_simulation(n, net["d"], max(1, args.rounds - 1))
            rows.append({"n": n, "d": net["d"], "sim_wall_s": sim["wall"], "sim_server_s": sim["server"],
                         "net_round_s": net["latency"], "net_server_cpu_s": net["server_cpu"],
                         "latency_ratio": net["latency"] / sim["wall"],
                         "server_cpu_ratio": net["server_cpu"] / sim["server"], "stages": net["stages"]})
            print(f"n={n} done", file=sys.stderr, flush=True)
    head = (f"{'n':>5} {'d':>7} {'sim round s':>12} {'sim server s':>13} {'net round s':>12} "
            f"{'net server CPU s':>17} {'latency x':>10} {'server CPU x':>13}")
    print(head)
    print("-" * len(head))
    for r in rows:
        print(f"{r['n']:>5} {r['d']:>7} {r['sim_wall_s']:>12.3f} {r['sim_server_s']:>13.3f} "
              f"{r['net_round_s']:>12.3f} {r['net_server_cpu_s']:>17.3f} {r['latency_ratio']:>10.2f} "
              f"{r['server_cpu_ratio']:>13.2f}")
    if args.json is not None:
        args.json.write_text(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
