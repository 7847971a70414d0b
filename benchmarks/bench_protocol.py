"""Protocol benchmark: SecAgg and SecAgg+ end to end, in process, with real messages.

    python benchmarks/bench_protocol.py [--json FILE] [--quick] [--points n,d,dropout ...]

For each (protocol, n, d, dropout) it runs one session with float updates in [-1, 1]
(clipping_range 1, quantization_range 2**16 so a cleartext value costs 16 bits), checks the result
against the exact sum of the quantized inputs of the included clients, and reports:
client time (mean and max per client), server time, bytes uploaded / downloaded per client, and
the expansion = bytes a client uploads / (d * 16 bits) (Bonawitz et al. report 1.73x at n=2^10,
d=2^20). SecAgg (quadratic) runs up to n=500 only. Times are wall clock and process CPU time
(all threads); on a shared machine the CPU time is the steadier number. ``--backend ray`` hosts the
clients in Ray actors (one per core, or on ``--ray-address``); "session s" is then the wall time of
the whole session with the clients working in parallel.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

import numpy as np

import secagg
from secagg.protocol.stage import Stage

Q = 2**16
FULL = [(p, n, d, f) for n in (100, 500, 1000) for d in (10**4, 10**5) for f in (0.0, 0.1, 0.3)
        for p in ("secagg+", "secagg") if not (p == "secagg" and n > 500)]
QUICK = [("secagg+", 100, 10**4, 0.1), ("secagg", 100, 10**4, 0.1), ("secagg+", 1000, 10**5, 0.1)]


def run_point(protocol: str, n: int, d: int, dropout: float, seed: int = 0,
              backend: secagg.ClientBackend | None = None, threat_model: str = "honest-but-curious") -> dict:
    rng = np.random.default_rng(seed)  # synthetic data only; all protocol randomness is os.urandom
    updates = {cid: rng.uniform(-1, 1, d) for cid in range(n)}
    rounding = {cid: rng.bytes(32) for cid in range(n)}
    dropped = rng.choice(n, size=int(round(dropout * n)), replace=False)
    # dropouts are spread over the stages: half before the masked input, half after it
    stages = [Stage.SHARE_KEYS, Stage.MASKED_INPUT, Stage.MASKED_INPUT, Stage.UNMASKING]
    schedule = {int(c): stages[i % len(stages)] for i, c in enumerate(dropped)}
    start = time.perf_counter()
    res = secagg.simulate(updates, protocol=protocol, dropouts=schedule, clipping_range=1.0,
                          quantization_range=Q, dropout_fraction=max(dropout, 0.05),
                          rounding_seeds=rounding, backend=backend or "inprocess",
                          threat_model=threat_model)
    wall = time.perf_counter() - start
    r = res.config.modulus_range
    expected = np.zeros(d, dtype=np.uint64)
    for cid in res.included:
        expected += secagg.quantize(updates[cid], clipping_range=1.0, quantization_range=Q,
                                    rounding_seed=rounding[cid]).astype(np.uint64)
    correct = bool(np.array_equal(expected & np.uint64(r - 1), res.quantized_sum.astype(np.uint64)))
    full = [c for c in range(n) if c not in schedule]  # clients present in every stage
    up = np.mean([sum(res.bytes_sent[c].values()) for c in full])
    down = np.mean([sum(res.bytes_received[c].values()) for c in full])
    per_client = [res.client_seconds[c] for c in full]
    return {"protocol": protocol, "threat_model": threat_model, "n": n, "d": d, "dropout": dropout,
            "k": res.params.degree,
            "t": res.params.threshold, "bits": res.config.bits, "included": len(res.included),
            "client_s_mean": float(np.mean(per_client)), "client_s_max": float(np.max(per_client)),
            "server_s": res.seconds["server"], "server_cpu_s": res.seconds["server_cpu"],
            "client_cpu_s_mean": res.seconds["client_cpu"] / n, "wall_s": wall, "upload_bytes": float(up),
            "download_bytes": float(down), "expansion": float(up / (d * 2)), "correct": correct}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--json", help="write the rows as JSON to this file")
    ap.add_argument("--quick", action="store_true", help="three points only")
    ap.add_argument("--backend", choices=["inprocess", "ray"], default="inprocess",
                    help="where the clients run (default: inprocess)")
    ap.add_argument("--ray-address", default=None, help="with --backend ray: an existing Ray cluster")
    ap.add_argument("--threat-model", choices=["honest-but-curious", "active"], default="honest-but-curious",
                    help="the sessions' threat model (default: honest-but-curious)")
    ap.add_argument("--repeat", type=int, default=1, help="run each point this many times (default: 1)")
    ap.add_argument("--points", nargs="*", default=None,
                    help="explicit points protocol:n:d:dropout, e.g. secagg+:1000:100000:0.1")
    args = ap.parse_args(argv)
    if args.points:
        points = [(p, int(n), int(float(d)), float(f))
                  for p, n, d, f in (s.split(":") for s in args.points)]
    else:
        points = QUICK if args.quick else FULL
    header = (f"{'protocol':8} {'n':>5} {'d':>7} {'drop':>5} {'k':>4} {'t':>4} {'bits':>4} "
              f"{'client s':>9} {'max':>6} {'server s':>9} {'srv cpu':>8} {'up KB':>8} {'down KB':>8} "
              f"{'expand':>7} {'session s':>9} ok")
    print(header)
    rows = []
    options = {"address": args.ray_address} if args.ray_address else {}
    backend, _ = secagg.make_backend(args.backend, options)
    for point in points * args.repeat:
        row = run_point(*point, backend=backend, threat_model=args.threat_model)
        rows.append(row)
        print(f"{row['protocol']:8} {row['n']:>5} {row['d']:>7} {row['dropout']:>5.0%} "
              f"{row['k']:>4} {row['t']:>4} {row['bits']:>4} {row['client_s_mean']:>9.3f} "
              f"{row['client_s_max']:>6.3f} {row['server_s']:>9.3f} {row['server_cpu_s']:>8.3f} "
              f"{row['upload_bytes'] / 1e3:>8.1f} {row['download_bytes'] / 1e3:>8.1f} "
              f"{row['expansion']:>6.3f}x {row['wall_s']:>9.2f} {'yes' if row['correct'] else 'NO'}", flush=True)
    backend.close()
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"backend": secagg.prg_backend(), "client_backend": args.backend, "threat_model": args.threat_model,
                       "load": os.getloadavg(), "rows": rows}, fh, indent=2)
    return 0 if all(r["correct"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
