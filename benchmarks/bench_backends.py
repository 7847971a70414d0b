"""Where the secure aggregator's clients run: the recommender's round wall time per client backend.

    python benchmarks/bench_backends.py [--rounds 8] [--warmup 2] [--backends inprocess,ray] [--json FILE]

Trains the federated recommender on MovieLens 100K at the benchmark's default settings (100 clients
per round, 10% dropout, secagg+) once per client backend, plus ``plain`` in process as the baseline
measured in the same run, all with the same seed (so the same clients are sampled and dropped in
every run). Reports seconds per warm round (the first ``--warmup`` rounds, which include Ray's
start-up, are reported apart), CPU seconds per round (this process plus the backend's workers), and
each figure's ratio to plain's. Checks: no round aborted, and every secure run included the same
clients in every round. MovieLens 100K is read from $SECAGG_ML100K or <repo>/../shared/data/ml-100k.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

from secagg.rec import experiment
from secagg.rec.data import load_ml100k
from secagg.rec.train import FederatedConfig, FederatedTrainer


def find_ml100k() -> Path | None:
    env = os.environ.get("SECAGG_ML100K")
    for candidate in ([Path(env)] if env else []) + [Path(__file__).resolve().parents[2] / "shared/data/ml-100k"]:
        if (candidate / "u.data").is_file():
            return candidate
    return None


def run(prepared: experiment.Prepared, aggregator: str, backend: str, args: argparse.Namespace) -> dict:
    cfg = FederatedConfig(rounds=args.rounds, clients_per_round=100, aggregator=aggregator, dropout=0.1,
                          eval_every=0, seed=args.seed)
    trainer = FederatedTrainer(prepared.split, cfg, backend=backend)
    records = []
    try:
        for _ in range(cfg.rounds):
            records.append(trainer.run_round())
    finally:
        trainer.aggregator.close()
    warm = records[args.warmup:]
    return {"aggregator": aggregator, "backend": backend,
            "warmup_s": sum(r["seconds"]["round"] for r in records[:args.warmup]),
            "round_s": float(np.mean([r["seconds"]["round"] for r in warm])),
            "round_cpu_s": float(np.mean([r["seconds"]["round_cpu"] for r in warm])),
            "training_s": float(np.mean([r["seconds"]["local_training"] for r in warm])),
            "aggregation_s": float(np.mean([r["seconds"]["aggregation"] for r in warm])),
            "included": [r["included"] for r in records], "aborted": sum(r["aborted"] for r in records),
            "load": os.getloadavg()}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=8)
    ap.add_argument("--warmup", type=int, default=2, help="first rounds reported apart (Ray start-up)")
    ap.add_argument("--backends", default="inprocess,ray")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()
    if not 0 <= args.warmup < args.rounds:
        ap.error("--warmup must be in [0, --rounds)")
    path = find_ml100k()
    if path is None:
        print("MovieLens 100K not found: set SECAGG_ML100K", file=sys.stderr)
        return 1
    prepared = experiment.prepare(load_ml100k(path))
    rows = [run(prepared, "plain", "inprocess", args)]
    rows += [run(prepared, "secagg+", backend, args) for backend in args.backends.split(",")]
    base = rows[0]
    print(f"\n{'aggregator':<10} {'backend':<10} {'s/round':>8} {'x plain':>8} {'cpu s/rnd':>9} {'x plain':>8} "
          f"{'train s':>8} {'agg s':>7} {'warm-up s':>9}  load")
    for row in rows:
        print(f"{row['aggregator']:<10} {row['backend']:<10} {row['round_s']:>8.3f} "
              f"{row['round_s'] / base['round_s']:>8.2f} {row['round_cpu_s']:>9.3f} "
              f"{row['round_cpu_s'] / base['round_cpu_s']:>8.2f} {row['training_s']:>8.3f} "
              f"{row['aggregation_s']:>7.3f} {row['warmup_s']:>9.2f}  "
              + " ".join(f"{x:.2f}" for x in row["load"]))
    secure = rows[1:]
    ok = all(r["aborted"] == 0 for r in rows) and all(r["included"] == secure[0]["included"] for r in secure)
    print("checks: no aborted round, same clients included on every backend:", "yes" if ok else "NO")
    if args.json:
        args.json.write_text(json.dumps({"rows": rows, "started": time.strftime("%Y-%m-%d %H:%M:%S"),
                                         "ok": ok}, indent=2))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
