"""Quality and cost of the federated recommender on MovieLens 100K (leave-one-out by time).

Rows: popularity, centralized MF-BPR, federated MF-BPR over ``plain`` and over ``secagg+`` (both with
the same simulated dropout rate, 10% by default, so their wall times compare like for like).
Columns: full-ranking HR@10 / NDCG@10, sampled (1 + 99 negatives) HR@10 / NDCG@10, seconds per
round (local training + aggregation + server step; evaluation excluded) in wall and CPU time,
aggregation seconds per round, and total bytes uploaded by clients through the aggregator.
Federated evaluation is done on each device after 2 epochs of local user-vector fine-tuning
(personalisation, ``--finetune-epochs``; 0 evaluates the stored user vectors as they are).
Local training runs in this process for every aggregator; with ``--workers N`` (default: one per
core) the secure aggregator's server runs in a process of its own and its clients in N worker
processes, so the protocol overlaps training. CPU s/round counts every process.

    python benchmarks/bench_recommender.py [--rounds 80] [--json out.json]

MovieLens 100K is read from $SECAGG_ML100K or <repo>/../shared/data/ml-100k (never copied here).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

from secagg.rec import experiment
from secagg.rec.baseline import CentralizedConfig
from secagg.rec.data import load_ml100k
from secagg.rec.options import add_training_options, local_config, server_lr
from secagg.rec.train import FederatedConfig


def find_ml100k() -> Path | None:
    """``$SECAGG_ML100K``, the shared copy beside this repository, or the download cache."""
    from secagg.rec.datasets import locate_ml100k

    return locate_ml100k(Path(__file__).resolve().parents[2] / "shared" / "data" / "ml-100k")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=80)
    add_training_options(ap, privacy=False, clients_per_round=100)  # the flags of `secagg train`
    ap.add_argument("--dropout", type=float, default=0.1)
    ap.add_argument("--centralized-epochs", type=int, default=30)
    ap.add_argument("--eval-every", type=int, default=10)
    ap.add_argument("--finetune-epochs", type=int, default=2,
                    help="personalisation: local user-vector fine-tuning before each evaluation")
    ap.add_argument("--aggregators", default="plain,secagg+")
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1,
                    help="processes for the simulated clients' secure-aggregation work (default: one per "
                         "core; local training runs in the main process for every aggregator)")
    ap.add_argument("--json", type=Path, default=None, help="also write the results here")
    args = ap.parse_args()

    path = find_ml100k()
    if path is None:
        print("MovieLens 100K not found: set SECAGG_ML100K or place it at <repo>/../shared/data/ml-100k",
              file=sys.stderr)
        return 1
    prepared = experiment.prepare(load_ml100k(path))
    print(f"ML-100K: {prepared.split.n_users} users, {prepared.split.n_items} items, "
          f"{prepared.split.train.nnz} training interactions, {len(prepared.eval_set)} test users", flush=True)

    results: dict[str, dict] = {}
    central_cfg = CentralizedConfig(factors=args.factors, epochs=args.centralized_epochs, lr=args.lr,
                                    reg=args.reg, seed=args.seed)
    base = experiment.run_baselines(prepared, central_cfg)
    results["popularity"] = {"metrics": base["popularity"]["metrics"]}
    results["centralized"] = {"metrics": base["centralized"]["metrics"], "seconds_total": base["centralized"]["seconds"]}
    print(f"centralized: {base['centralized']['metrics']} in {base['centralized']['seconds']:.1f} s", flush=True)

    for name in args.aggregators.split(","):
        cfg = FederatedConfig(
            factors=args.factors, rounds=args.rounds, clients_per_round=args.clients_per_round,
            local=local_config(args), aggregator=name, quantization_range=args.quantization_range,
            server_optimizer=args.server_optimizer, server_lr=server_lr(args, args.clients_per_round),
            dropout=args.dropout,
            eval_every=args.eval_every, finetune_epochs=args.finetune_epochs, seed=args.seed)
        t0 = time.perf_counter()

        def progress(tr, rec, name=name):
            if "metrics" in rec:
                print(f"  {name} round {rec['round']}: ndcg@10={rec['metrics']['ndcg@10']:.4f} "
                      f"hr@10={rec['metrics']['hr@10']:.4f} ({rec['seconds']['round']:.2f} s/round)", flush=True)

        _, summary = experiment.run_federated(prepared, cfg, on_round=progress, workers=args.workers)
        results[f"federated {name}"] = {
            "metrics": summary["final_metrics"], "best_ndcg@10": summary["best_ndcg@10"],
            "seconds_per_round": summary["seconds_per_round"],
            "cpu_seconds_per_round": summary["cpu_seconds_per_round"],
            "aggregation_seconds_per_round": summary["aggregation_seconds_per_round"],
            "bytes_sent_total": summary["bytes_sent_total"],
            "bytes_received_total": summary["bytes_received_total"],
            "rounds_aborted": summary["rounds_aborted"], "seconds_total": time.perf_counter() - t0,
            "dropout": args.dropout,
        }

    head = (f"{'method':<22} {'HR@10':>7} {'NDCG@10':>8} {'sHR@10':>7} {'sNDCG@10':>9} "
            f"{'s/round':>8} {'cpu s/rnd':>9} {'agg s/rnd':>9} {'upload MB':>10}")
    print("\n" + head + "\n" + "-" * len(head))
    nan = {"hr@10": float("nan"), "ndcg@10": float("nan"), "sampled_hr@10": float("nan"),
           "sampled_ndcg@10": float("nan")}
    for name, row in results.items():
        m = row["metrics"] or nan
        fed = "seconds_per_round" in row
        spr = f"{row['seconds_per_round']:.2f}" if fed else "-"
        cpu = f"{row['cpu_seconds_per_round']:.2f}" if fed else "-"
        agg = f"{row['aggregation_seconds_per_round']:.2f}" if fed else "-"
        mb = f"{row['bytes_sent_total'] / 1e6:.0f}" if fed else "-"
        print(f"{name:<22} {m['hr@10']:>7.4f} {m['ndcg@10']:>8.4f} {m['sampled_hr@10']:>7.4f} "
              f"{m['sampled_ndcg@10']:>9.4f} {spr:>8} {cpu:>9} {agg:>9} {mb:>10}")
    central = results["centralized"]["metrics"]["ndcg@10"]
    if "federated secagg+" in results:
        secure = results["federated secagg+"]
        if secure["metrics"] is not None:
            print(f"\nsecagg+ NDCG@10 / centralized = {secure['metrics']['ndcg@10'] / central:.3f} (target >= 0.95)")
        if "federated plain" in results:
            plain = results["federated plain"]
            print(f"secagg+ / plain per round: wall {secure['seconds_per_round'] / plain['seconds_per_round']:.2f}x, "
                  f"CPU {secure['cpu_seconds_per_round'] / plain['cpu_seconds_per_round']:.2f}x (target <= 1.3x)")
    pop = results["popularity"]["metrics"]
    print(f"centralized vs popularity: HR@10 {results['centralized']['metrics']['hr@10']:.4f} vs "
          f"{pop['hr@10']:.4f}, NDCG@10 {central:.4f} vs {pop['ndcg@10']:.4f}")
    if args.json:
        args.json.write_text(json.dumps({"args": vars(args) | {"json": str(args.json)}, "results": results},
                                        indent=1, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
