"""Quality and cost of the federated recommender on MovieLens 100K (leave-one-out by time).

Rows: popularity, centralized MF-BPR, the ``implicit`` library's BPR (a strong non-private
reference under the same split and metrics; skipped with a message when ``implicit`` is not
installed; it is never a dependency of secagg), federated MF-BPR over ``plain`` and over
``secagg+`` (both with the same simulated dropout rate, 10% by default, so their wall times compare
like for like). Every figure is the mean ± sd over ``--seeds`` seeds (default 3; the training,
sampling and initialisation seed varies, the leave-one-out split and evaluation candidates are
fixed), and so is every ratio (computed per seed, then summarised).
Columns: full-ranking HR@10 / NDCG@10, sampled (1 + 99 negatives) HR@10 / NDCG@10, seconds per
round (local training + aggregation + server step; evaluation excluded) in wall and CPU time,
aggregation seconds per round, and total bytes uploaded by clients through the aggregator.
Federated evaluation is done on each device after 2 epochs of local user-vector fine-tuning
(personalisation, ``--finetune-epochs``; 0 evaluates the stored user vectors as they are).
Local training runs in this process for every aggregator; with ``--backend ray`` the secure
aggregator's clients run in Ray actors (one per core), so their protocol work overlaps training.
CPU s/round counts every process.

    python benchmarks/bench_recommender.py [--rounds 80] [--seeds 3] [--json out.json]
    # only the non-private references (centralized against implicit's BPR), about a minute:
    python benchmarks/bench_recommender.py --aggregators none

MovieLens 100K is read from $SECAGG_ML100K or <repo>/../shared/data/ml-100k (never copied here).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

from secagg.rec import experiment
from secagg.rec.baseline import CentralizedConfig
from secagg.rec.data import load_ml100k
from secagg.rec.evaluation import METRIC_NAMES, evaluate, format_mean_sd, seed_summary
from secagg.rec.options import add_training_options, local_config, server_lr
from secagg.rec.train import FederatedConfig

COSTS = ("seconds_per_round", "cpu_seconds_per_round", "aggregation_seconds_per_round", "bytes_sent_total")


def find_ml100k() -> Path | None:
    """``$SECAGG_ML100K``, the shared copy beside this repository, or the download cache."""
    from secagg.rec.datasets import locate_ml100k

    return locate_ml100k(Path(__file__).resolve().parents[2] / "shared" / "data" / "ml-100k")


def load() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:  # pragma: no cover - not Linux
        return "unknown"


def implicit_bpr(prepared, args: argparse.Namespace, seed: int) -> dict | None:
    """``implicit``'s CPU BPR on the same training matrix, scored on the same evaluation set."""
    try:
        from implicit.cpu.bpr import BayesianPersonalizedRanking
        from scipy.sparse import csr_matrix
    except ImportError:
        return None
    train = prepared.split.train
    matrix = csr_matrix((np.ones(train.nnz, dtype=np.float32), train.indices, train.indptr),
                        shape=(train.n_users, train.n_items))
    t0 = time.perf_counter()
    model = BayesianPersonalizedRanking(factors=args.implicit_factors or args.factors,
                                        iterations=args.implicit_iterations, learning_rate=args.implicit_lr,
                                        regularization=args.implicit_reg, random_state=seed, num_threads=1)
    model.fit(matrix, show_progress=False)
    users, items = np.asarray(model.user_factors), np.asarray(model.item_factors)
    metrics = evaluate(lambda u: users[u] @ items.T, prepared.eval_set)  # includes its bias column
    return {"metrics": metrics, "seconds_total": time.perf_counter() - t0}


def one_seed(prepared, args: argparse.Namespace, seed: int) -> dict[str, dict]:
    """Every method for one seed: {method: {"metrics": ..., costs...}}."""
    results: dict[str, dict] = {}
    central_cfg = CentralizedConfig(factors=args.factors, epochs=args.centralized_epochs, lr=args.centralized_lr,
                                    reg=args.centralized_reg, seed=seed)
    base = experiment.run_baselines(prepared, central_cfg)
    results["popularity"] = {"metrics": base["popularity"]["metrics"]}
    results["centralized"] = {"metrics": base["centralized"]["metrics"],
                              "seconds_total": base["centralized"]["seconds"]}
    print(f"seed {seed} centralized: ndcg@10 {base['centralized']['metrics']['ndcg@10']:.4f} "
          f"in {base['centralized']['seconds']:.1f} s", flush=True)
    ref = implicit_bpr(prepared, args, seed)
    if ref is not None:
        results["implicit BPR"] = ref
        print(f"seed {seed} implicit BPR: ndcg@10 {ref['metrics']['ndcg@10']:.4f}", flush=True)
    for name in args.aggregators:
        cfg = FederatedConfig(
            factors=args.factors, rounds=args.rounds, clients_per_round=args.clients_per_round,
            local=local_config(args), aggregator=name, quantization_range=args.quantization_range,
            server_optimizer=args.server_optimizer, server_lr=server_lr(args, args.clients_per_round),
            dropout=args.dropout, eval_every=args.eval_every, finetune_epochs=args.finetune_epochs, seed=seed)
        t0 = time.perf_counter()

        def progress(tr, rec, name=name):
            if "metrics" in rec:
                print(f"  seed {seed} {name} round {rec['round']}: ndcg@10={rec['metrics']['ndcg@10']:.4f} "
                      f"({rec['seconds']['round']:.2f} s/round)", flush=True)

        _, summary = experiment.run_federated(prepared, cfg, on_round=progress, backend=args.backend)
        assert summary["final_metrics"] is not None, f"{name}: no evaluated round"
        results[f"federated {name}"] = {
            "metrics": summary["final_metrics"], "best_ndcg@10": summary["best_ndcg@10"],
            **{key: summary[key] for key in COSTS}, "bytes_received_total": summary["bytes_received_total"],
            "rounds_aborted": summary["rounds_aborted"], "seconds_total": time.perf_counter() - t0,
            "dropout": args.dropout}
    return results


def combine(per_seed: list[dict[str, dict]]) -> dict[str, dict]:
    """{method: {metric or cost: seed_summary}} over the seeds."""
    out: dict[str, dict] = {}
    for method in per_seed[0]:
        runs = [r[method] for r in per_seed]
        row = {name: seed_summary([run["metrics"][name] for run in runs]) for name in METRIC_NAMES}
        row.update({key: seed_summary([run[key] for run in runs]) for key in COSTS if key in runs[0]})
        out[method] = row
    return out


def ratio(per_seed: list[dict[str, dict]], num: str, den: str, key: str = "ndcg@10") -> dict | None:
    """Per-seed ``num / den`` of a metric (or cost), summarised over the seeds."""
    if num not in per_seed[0] or den not in per_seed[0]:
        return None
    def value(run: dict) -> float:
        return run["metrics"][key] if key in run.get("metrics", {}) else run[key]
    return seed_summary([value(r[num]) / value(r[den]) for r in per_seed])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=80)
    add_training_options(ap, privacy=False, clients_per_round=100)  # the flags of `secagg train`
    ap.add_argument("--dropout", type=float, default=0.1)
    default = CentralizedConfig()
    ap.add_argument("--centralized-epochs", type=int, default=default.epochs)
    ap.add_argument("--centralized-lr", type=float, default=default.lr)
    ap.add_argument("--centralized-reg", type=float, default=default.reg)
    ap.add_argument("--implicit-factors", type=int, default=None, help="default: --factors")
    ap.add_argument("--implicit-iterations", type=int, default=100, help="implicit's default: 100")
    ap.add_argument("--implicit-lr", type=float, default=0.01, help="implicit's default: 0.01")
    ap.add_argument("--implicit-reg", type=float, default=0.01, help="implicit's default: 0.01")
    ap.add_argument("--eval-every", type=int, default=10)
    ap.add_argument("--finetune-epochs", type=int, default=2,
                    help="personalisation: local user-vector fine-tuning before each evaluation")
    ap.add_argument("--aggregators", default="plain,secagg+", help="comma-separated, or 'none'")
    ap.add_argument("--seeds", type=int, default=3, help="seeds per figure (mean ± sd; default: 3)")
    ap.add_argument("--backend", choices=["inprocess", "ray"], default="inprocess",
                    help="where the secure aggregator's simulated clients run (default: inprocess; local "
                         "training runs in the main process for every aggregator)")
    ap.add_argument("--json", type=Path, default=None, help="also write the results here")
    args = ap.parse_args()
    if args.seeds < 1:
        ap.error("--seeds must be >= 1")
    args.aggregators = [] if args.aggregators == "none" else args.aggregators.split(",")

    path = find_ml100k()
    if path is None:
        print("MovieLens 100K not found: set SECAGG_ML100K or place it at <repo>/../shared/data/ml-100k",
              file=sys.stderr)
        return 1
    prepared = experiment.prepare(load_ml100k(path))
    print(f"ML-100K: {prepared.split.n_users} users, {prepared.split.n_items} items, "
          f"{prepared.split.train.nnz} training interactions, {len(prepared.eval_set)} test users; "
          f"split {prepared.split.protocol()}", flush=True)
    try:
        import implicit  # noqa: F401
    except ImportError:
        print("implicit BPR row skipped: the 'implicit' package is not installed (pip install implicit; "
              "it is only used by this benchmark)", flush=True)

    per_seed = [one_seed(prepared, args, seed) for seed in range(args.seeds)]
    results = combine(per_seed)
    head = (f"{'method':<22} {'HR@10':>15} {'NDCG@10':>15} {'sHR@10':>7} {'sNDCG@10':>9} "
            f"{'s/round':>8} {'cpu s/rnd':>9} {'agg s/rnd':>9} {'upload MB':>10}")
    print(f"\nmean ± sd over {args.seeds} seeds; load {load()}\n" + head + "\n" + "-" * len(head))
    for name, row in results.items():
        fed = "seconds_per_round" in row
        cells = [f"{row[k]['mean']:.2f}" if fed else "-" for k in COSTS[:3]]
        mb = f"{row['bytes_sent_total']['mean'] / 1e6:.0f}" if fed else "-"
        print(f"{name:<22} {format_mean_sd(row['hr@10']):>15} {format_mean_sd(row['ndcg@10']):>15} "
              f"{row['sampled_hr@10']['mean']:>7.4f} {row['sampled_ndcg@10']['mean']:>9.4f} "
              f"{cells[0]:>8} {cells[1]:>9} {cells[2]:>9} {mb:>10}")
    ratios = {}
    for num, den in (("federated secagg+", "centralized"), ("federated plain", "centralized"),
                     ("centralized", "implicit BPR"), ("centralized", "popularity")):
        r = ratio(per_seed, num, den)
        if r is not None:
            ratios[f"{num} / {den} NDCG@10"] = r
    for num, den in (("federated secagg+", "federated plain"),):
        for key in ("seconds_per_round", "cpu_seconds_per_round"):
            r = ratio(per_seed, num, den, key)
            if r is not None:
                ratios[f"{num} / {den} {key}"] = r
    print()
    for name, r in ratios.items():
        print(f"{name}: {format_mean_sd(r, 3)} (per seed: {', '.join(f'{v:.3f}' for v in r['values'])})")
    if args.json:
        args.json.write_text(json.dumps({"args": vars(args) | {"json": str(args.json)}, "load": load(),
                                         "split": prepared.split.protocol(), "results": results,
                                         "ratios": ratios, "per_seed": per_seed}, indent=1, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
