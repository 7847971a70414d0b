"""Distributed DP: fused-kernel throughput with noise on vs off, and the utility-privacy curve.

Part 1 (``--kernel``): elements per second of the fused quantize-and-mask kernel without noise
and with Skellam noise added in the same pass, for several numbers of pairwise masks (the noisy
kernel's output is also checked against the no-noise kernel plus the Python sampler's noise).

Part 2 (``--accounting``): for one plan (ML-100K's 943 users, 50 per round, 50 rounds, delta 1e-5)
the noise multiplier each accountant needs for epsilon = 8, and what that noise costs under every
other analysis: release epsilon for Poisson and fixed-size (replace-one) sampling, and the server's
epsilon (no amplification), as ratios to dp-accounting's PLD for Poisson sampling measured in the
same run. Checks: every Skellam value >= its Gaussian limit; fixed-size >= Poisson at equal noise.

Part 3 (``--curve``): full-ranking NDCG@10 on MovieLens 100K of federated MF-BPR trained through
``secagg+`` with distributed Skellam noise, at user-level epsilon in {1, 2, 4, 8, 16, inf}
(delta = min(1 / users, 1e-5)), beside the centralized (non-private) baseline; writes a table,
a JSON file and a PNG plot. epsilon = inf runs the same pipeline with zero noise.

    python benchmarks/bench_dp.py --kernel
    python benchmarks/bench_dp.py --accounting [--json out.json]
    python benchmarks/bench_dp.py --curve [--rounds 30] [--clients-per-round 50] [--out runs/dp]

MovieLens 100K is read from $SECAGG_ML100K or <repo>/../shared/data/ml-100k (never copied here).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from pathlib import Path

import numpy as np

import secagg
from secagg.core.masking import quantize_and_mask_skellam
from secagg.dp import DPConfig
from secagg.dp.config import default_noise_split
from secagg.dp.skellam import sample_skellam
from secagg.rec.options import add_training_options, local_config, server_lr


def best_of(fn, repeats: int, clock=time.perf_counter) -> float:
    times = []
    for _ in range(repeats):
        t0 = clock()
        fn()
        times.append(clock() - t0)
    return min(times)


def kernel_table(dim: int, peers_list: list[int], variances: list[float], repeats: int,
                 threads: int) -> list[dict]:
    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, dim)
    rows = []
    for peers in peers_list:
        kw = dict(clipping_range=1.0, quantization_range=2**16, modulus_range=2**32,
                  self_seed=os.urandom(32), peer_seeds=[os.urandom(32) for _ in range(peers)],
                  peer_signs=[1 if i % 2 else -1 for i in range(peers)], rounding_seed=os.urandom(32),
                  threads=threads)
        plain = secagg.quantize_and_mask(x, **kw)
        for var in variances:
            ns = os.urandom(32)
            noisy = quantize_and_mask_skellam(x, noise_seed=ns, noise_variance=var, **kw)
            diff = (noisy.astype(np.int64) - plain.astype(np.int64)) % 2**32
            diff = np.where(diff >= 2**31, diff - 2**32, diff)
            assert np.array_equal(diff, sample_skellam(ns, dim, var)), "noisy kernel is wrong"
            # Interleaved, and timed in CPU seconds of this thread when the kernel runs on it
            # (threads=1): on a shared machine wall time punishes the longer run, which is
            # preempted more often, and would overstate the cost of the noise.
            clock = time.thread_time if threads == 1 else time.perf_counter
            off, on = [], []
            for _ in range(repeats):
                off.append(best_of(lambda: secagg.quantize_and_mask(x, **kw), 1, clock))
                on.append(best_of(lambda: quantize_and_mask_skellam(x, noise_seed=ns, noise_variance=var, **kw),
                                  1, clock))
            t_off, t_on = min(off), min(on)
            rows.append({"peers": peers, "variance": var, "dim": dim, "threads": threads,
                         "off_melem_s": dim / t_off / 1e6, "on_melem_s": dim / t_on / 1e6,
                         "ratio": t_off / t_on})
            print(f"peers {peers:>3}  variance {var:>9.3g}  off {dim / t_off / 1e6:8.1f} M/s  "
                  f"on {dim / t_on / 1e6:8.1f} M/s  on/off {t_off / t_on:6.1%}", flush=True)
    return rows


def find_ml100k() -> Path | None:
    """``$SECAGG_ML100K``, the shared copy beside this repository, or the download cache."""
    from secagg.rec.datasets import locate_ml100k

    return locate_ml100k(Path(__file__).resolve().parents[2] / "shared" / "data" / "ml-100k")


def curve(args: argparse.Namespace) -> dict:
    from secagg.rec import experiment
    from secagg.rec.baseline import CentralizedConfig
    from secagg.rec.data import load_ml100k
    from secagg.rec.train import FederatedConfig, FederatedTrainer

    path = find_ml100k()
    if path is None:
        raise SystemExit("MovieLens 100K not found: set SECAGG_ML100K")
    prepared = experiment.prepare(load_ml100k(path))
    users = int(np.count_nonzero(prepared.split.train.counts() > 0))
    probe = FederatedTrainer(prepared.split, FederatedConfig(factors=args.factors, rounds=1,
                                                             clients_per_round=2), aggregator=None)
    dim = int(probe.server.model.size)  # the dense item-model update the clients send
    print(f"ML-100K: {users} users with training data, {prepared.split.n_items} items, model dim {dim}",
          flush=True)
    base = experiment.run_baselines(prepared, CentralizedConfig(
        factors=args.factors, epochs=args.centralized_epochs, lr=args.lr, reg=args.reg, seed=args.seed))
    central = base["centralized"]["metrics"]
    print(f"centralized: ndcg@10 {central['ndcg@10']:.4f}", flush=True)
    rows = []
    for eps in args.epsilons:
        dp = DPConfig(clip_norm=args.clip_norm, clients_per_round=args.clients_per_round, num_users=users,
                      rounds=args.rounds, epsilon=eps, bits=args.bits, accountant=args.accountant,
                      sampling=args.dp_sampling,
                      min_clients=default_noise_split(args.dp_sampling, args.clients_per_round, users,
                                                      args.dropout_fraction))
        cfg = FederatedConfig(
            factors=args.factors, rounds=args.rounds, clients_per_round=args.clients_per_round,
            local=local_config(args), aggregator="secagg+", quantization_range=args.quantization_range,
            aggregator_options={"dropout_fraction": args.dropout_fraction},
            server_optimizer=args.server_optimizer, server_lr=float(args.server_lr),
            eval_every=args.rounds, seed=args.seed, dp=dp)
        t0 = time.perf_counter()  # the trainer builds the sampler and the DP aggregator from dp
        trainer = FederatedTrainer(prepared.split, cfg, eval_set=prepared.eval_set)
        calib = time.perf_counter() - t0
        t0 = time.perf_counter()
        trainer.fit()
        seconds = time.perf_counter() - t0
        summary = experiment.summarize_run(trainer, seconds)
        m = summary["final_metrics"]
        row = {"epsilon_target": eps, "epsilon_spent": trainer.ledger.epsilon_release(),
               "epsilon_release": trainer.ledger.epsilon_release(),
               "epsilon_server": trainer.ledger.epsilon_server(), "delta": dp.target_delta,
               "noise_multiplier": trainer.privacy_plan.noise_multiplier, "ndcg@10": m["ndcg@10"],
               "hr@10": m["hr@10"], "seconds_per_round": summary["seconds_per_round"],
               "calibration_seconds": calib, "params": trainer.privacy_plan.report()}
        rows.append(row)
        print(f"eps {eps:>5}: z={row['noise_multiplier']:.3f} release {row['epsilon_release']:.3f} "
              f"server {row['epsilon_server']:.3f} "
              f"ndcg@10 {m['ndcg@10']:.4f} hr@10 {m['hr@10']:.4f} ({summary['seconds_per_round']:.2f} s/round)",
              flush=True)
    return {"users": users, "dim": dim, "centralized": central, "popularity": base["popularity"]["metrics"],
            "rows": rows}


def accounting_table(users: int, per_round: int, rounds: int, target: float) -> dict:
    """Noise for ``target`` under each analysis, and each analysis's epsilon at each noise."""
    analyses = [(s, a) for s in ("poisson", "fixed", "cyclic") for a in ("gaussian", "skellam")]
    base = dict(clip_norm=1.0, clients_per_round=per_round, num_users=users, rounds=rounds)
    rows = []
    for sampling, accountant in analyses:
        t0 = time.perf_counter()
        plan = DPConfig(epsilon=target, sampling=sampling, accountant=accountant, **base).plan(4096)
        row = {"calibrated_for": f"{sampling}/{accountant}", "noise_multiplier": plan.noise_multiplier,
               "calibration_seconds": time.perf_counter() - t0}
        for s2, a2 in analyses:
            cfg = DPConfig(noise_multiplier=plan.noise_multiplier, sampling=s2, accountant=a2, **base)
            params = cfg.parameters(4096, plan.noise_multiplier)
            row[f"release {s2}/{a2}"] = cfg.epsilon_of(params)  # all rounds, with amplification
            row[f"server {s2}/{a2}"] = cfg.server_epsilon_of(params)  # a user in every round (cyclic: epochs)
        rows.append(row)
    for row in rows:  # the checks the module docstring states
        for s2 in ("poisson", "fixed", "cyclic"):
            for view in ("release", "server"):
                assert row[f"{view} {s2}/skellam"] >= row[f"{view} {s2}/gaussian"] * (1 - 1e-6), row
        assert row["release fixed/gaussian"] >= row["release poisson/gaussian"], row
        assert row["release cyclic/skellam"] == row["server cyclic/skellam"], row
    return {"users": users, "clients_per_round": per_round, "rounds": rounds, "target_epsilon": target,
            "rows": rows}


def print_accounting(result: dict) -> None:
    print(f"\naccounting: {result['users']} users, {result['clients_per_round']} per round, "
          f"{result['rounds']} rounds, target epsilon {result['target_epsilon']:g} "
          f"(ratios: to release poisson/gaussian (PLD) at the same noise)")
    cols = [k for k in result["rows"][0] if k.startswith(("release", "server"))]
    print(f"{'calibrated for':<18} {'z':>7} " + " ".join(f"{c:>24}" for c in cols))
    for r in result["rows"]:
        ref = r["release poisson/gaussian"]
        print(f"{r['calibrated_for']:<18} {r['noise_multiplier']:>7.3f} "
              + " ".join(f"{r[c]:>10.3f} ({r[c] / ref:>6.2f}x)    " for c in cols))


def plot(result: dict, out: Path, args: argparse.Namespace) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = result["rows"]
    finite = [r for r in rows if math.isfinite(r["epsilon_target"])]
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot([r["epsilon_target"] for r in finite], [r["ndcg@10"] for r in finite], "o-",
            label=f"secagg+ with distributed Skellam ({args.accountant} accountant)")
    for r in rows:
        if not math.isfinite(r["epsilon_target"]):
            ax.axhline(r["ndcg@10"], color="tab:orange", ls="--", label="secagg+, no noise (eps = inf)")
    ax.axhline(result["centralized"]["ndcg@10"], color="tab:green", ls=":", label="centralized (non-private)")
    ax.axhline(result["popularity"]["ndcg@10"], color="tab:gray", ls="-.", label="popularity")
    ax.set_xscale("log", base=2)
    ax.set_xlabel("user-level epsilon (delta = %.0e)" % rows[0]["delta"])
    ax.set_ylabel("full-ranking NDCG@10")
    ax.set_title(f"MovieLens 100K, {args.rounds} rounds x {args.clients_per_round} clients")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--kernel", action="store_true")
    ap.add_argument("--curve", action="store_true")
    ap.add_argument("--accounting", action="store_true")
    ap.add_argument("--json", type=Path, default=None, help="also write the results here")
    ap.add_argument("--dp-sampling", default="poisson", choices=["poisson", "fixed"])
    ap.add_argument("--dim", type=int, default=1 << 18)
    ap.add_argument("--peers", default="0,8,16,32,64")
    ap.add_argument("--variances", default="1e3,1e5")
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--epsilons", default="1,2,4,8,16,inf")
    ap.add_argument("--rounds", type=int, default=30)
    add_training_options(ap, privacy=False, factors=16, clip_norm=1.0)  # the flags of `secagg train`
    ap.add_argument("--centralized-epochs", type=int, default=30)
    ap.add_argument("--bits", type=int, default=32)
    ap.add_argument("--accountant", default="skellam", choices=["skellam", "gaussian"])
    ap.add_argument("--dropout-fraction", type=float, default=0.1)
    ap.add_argument("--out", type=Path, default=Path("runs/dp"))
    args = ap.parse_args()
    if not (args.kernel or args.curve or args.accounting):
        args.kernel = True
    args.server_lr = server_lr(args, args.clients_per_round)
    args.epsilons = [float(e) for e in args.epsilons.split(",")]
    args.out.mkdir(parents=True, exist_ok=True)
    doc: dict = {"args": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()}}
    if args.kernel:
        print(f"fused kernel, dim {args.dim}, {args.threads} thread(s), backend {secagg.prg_backend()}")
        doc["kernel"] = kernel_table(args.dim, [int(p) for p in args.peers.split(",")],
                                     [float(v) for v in args.variances.split(",")], args.repeats, args.threads)
    if args.accounting:
        doc["accounting"] = accounting_table(943, 50, 50, 8.0)
        print_accounting(doc["accounting"])
    if args.curve:
        result = curve(args)
        doc["curve"] = result
        print(f"\n{'epsilon':>8} {'release':>8} {'server':>8} {'z':>7} {'NDCG@10':>8} {'HR@10':>7}")
        for r in result["rows"]:
            print(f"{r['epsilon_target']:>8} {r['epsilon_release']:>8.3f} {r['epsilon_server']:>8.3f} "
                  f"{r['noise_multiplier']:>7.3f} "
                  f"{r['ndcg@10']:>8.4f} {r['hr@10']:>7.4f}")
        print(f"{'central':>8} {'-':>8} {'-':>8} {'-':>7} {result['centralized']['ndcg@10']:>8.4f} "
              f"{result['centralized']['hr@10']:>7.4f}")
        plot(result, args.out / "dp_curve.png", args)
    with open("/proc/loadavg") as fh:
        doc["loadavg"] = fh.read().split()[:3]
    print(f"load average: {' '.join(doc['loadavg'])}")
    text = json.dumps(doc, indent=1, default=str)
    (args.out / "bench_dp.json").write_text(text)
    if args.json is not None:
        args.json.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
