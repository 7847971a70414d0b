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
(delta = min(1 / users, 1e-5)), beside the DP popularity baseline at the same epsilon (an
epsilon-DP capped item histogram summed through secagg+ with the same noise, one round with every
client: :mod:`secagg.rec.dp_popularity`) and the non-private centralized and popularity
baselines. Every point is the mean ± sd over ``--seeds`` seeds (default 3; the training and
sampling seed varies, the leave-one-out split and evaluation candidates are fixed). Writes a
table, a JSON file and a PNG plot. epsilon = inf runs the same pipeline with zero noise.

    python benchmarks/bench_dp.py --kernel
    python benchmarks/bench_dp.py --accounting [--json out.json]
    python benchmarks/bench_dp.py --curve [--rounds 30] [--clients-per-round 50] [--seeds 3] [--out runs/dp]
    # how the DP popularity cap was chosen (plain backend: the same noise, summed in the clear):
    python benchmarks/bench_dp.py --cap-sweep --epsilons 1,8 --dp-popularity-aggregator plain
    # the DP-MF defaults chosen on the validation split, on ML-100K or the synthetic population:
    python benchmarks/bench_dp.py --curve --participation full --rounds 5 --server-lr 50 --prior-share 0.25 \
        --head-items 200 --dp-backend plain --dp-popularity-aggregator plain [--split validation] \
        [--population synthetic-100k --population-cache pop.npz --eval-users 5000]
    python benchmarks/bench_dp.py --merge a/bench_dp.json b/bench_dp.json --out merged   # one curve
    # a quick check (about a minute):
    python benchmarks/bench_dp.py --curve --rounds 2 --clients-per-round 20 --epsilons 8 --seeds 2 \
        --centralized-epochs 2 --dp-popularity-aggregator plain --out /tmp/dp

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
from secagg.rec.options import (
    add_training_options,
    local_config,
    optimizer_options,
    prior_config,
    server_lr,
)


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


def point_prior(args: argparse.Namespace, eps: float):
    """The run's popularity prior at ``eps`` (None without one): ``--prior-epsilon`` as given, or
    ``--prior-share`` x eps (exact counts at eps = inf)."""
    if args.prior_share is None:
        return prior_config(args)
    from dataclasses import replace

    ns = argparse.Namespace(**{**vars(args), "prior_epsilon": args.prior_share * eps})
    prior = prior_config(ns)
    return prior if math.isfinite(eps) else replace(prior, epsilon=math.inf)


def dp_point(prepared, args: argparse.Namespace, eps: float, seed: int, users: int, dim: int) -> dict:
    """One federated DP-MF run (``--dp-backend``, secagg+ by default, with distributed Skellam
    noise) at ``eps`` for ``seed``; the trainer builds its sampler and DP aggregator from the plan,
    so sampling and accountant agree. A prior's release is composed into the plan (the run's
    epsilon covers it). eps = inf: the same trainer without DP (and an exact-count prior)."""
    from dataclasses import replace

    from secagg.rec import experiment
    from secagg.rec.prior import release_mechanism
    from secagg.rec.train import FederatedConfig, FederatedTrainer

    per_round = users if args.participation == "full" else args.clients_per_round
    prior = point_prior(args, eps)
    dp = None
    if math.isfinite(eps):
        dp = DPConfig(clip_norm=args.clip_norm, clients_per_round=per_round, num_users=users,
                      rounds=args.rounds, epsilon=eps, bits=args.bits, accountant=args.accountant,
                      sampling=args.dp_sampling, delta=args.delta,
                      min_clients=default_noise_split(args.dp_sampling, per_round, users,
                                                      args.dropout_fraction if args.dp_backend != "plain" else 0.0))
        if prior is not None:
            dp = replace(dp, prior_releases=(release_mechanism(
                prior, num_users=users, n_items=prepared.split.n_items, delta=dp.target_delta,
                accountant=dp.accountant, bits=dp.bits, aggregator=args.dp_backend),))
    protocol = {"dropout_fraction": args.dropout_fraction} if args.dp_backend != "plain" else {}
    cfg = FederatedConfig(
        factors=args.factors, rounds=args.rounds, clients_per_round=per_round,
        local=local_config(args), aggregator=args.dp_backend, quantization_range=args.quantization_range,
        aggregator_options=protocol if dp is not None else {},
        server_optimizer=args.server_optimizer, server_lr=server_lr(args, per_round),
        optimizer_options=optimizer_options(args), server_average=args.server_average,
        item_init=args.item_init, prior=prior, eval_every=args.rounds, seed=seed, dp=dp,
        finetune_epochs=args.finetune_epochs)
    t0 = time.perf_counter()
    trainer = FederatedTrainer(prepared.split, cfg, eval_set=prepared.eval_set,
                               item_features=prepared_features(prepared, args))
    calib = time.perf_counter() - t0
    t0 = time.perf_counter()
    trainer.fit()
    summary = experiment.summarize_run(trainer, time.perf_counter() - t0)
    m = summary["final_metrics"]
    if dp is None:
        return {"seed": seed, "epsilon_spent": math.inf, "epsilon_release": math.inf, "epsilon_server": math.inf,
                "delta": 0.0, "noise_multiplier": 0.0, "ndcg@10": m["ndcg@10"], "hr@10": m["hr@10"],
                "seconds_per_round": summary["seconds_per_round"], "calibration_seconds": calib}
    release, server = trainer.ledger.epsilon_release(), trainer.ledger.epsilon_server()
    assert release <= eps * (1 + 1e-9), f"spent epsilon {release} exceeds the target {eps}"
    assert server >= release * (1 - 1e-9), (server, release)
    return {"seed": seed, "epsilon_spent": release, "epsilon_release": release, "epsilon_server": server,
            "delta": dp.target_delta, "noise_multiplier": trainer.privacy_plan.noise_multiplier,
            "prior_epsilon": None if prior is None else prior.epsilon,
            "ndcg@10": m["ndcg@10"], "hr@10": m["hr@10"],
            "seconds_per_round": summary["seconds_per_round"], "calibration_seconds": calib,
            "params": trainer.privacy_plan.report()}


def prepared_features(prepared, args: argparse.Namespace):
    """MovieLens genres for ``--item-init features`` (None otherwise)."""
    if args.item_init != "features":
        return None
    from secagg.rec.features import load_ml100k_genres, locate_item_file

    path = locate_item_file(prepared.data)
    if path is None:
        raise SystemExit("--item-init features needs MovieLens 100K's u.item (public genres)")
    return load_ml100k_genres(path, prepared.data)


def load_population(args: argparse.Namespace):
    """The data of ``--population`` split by ``--split`` (test: latest item; validation: the
    second-latest, evaluated instead of the test item, to choose settings without the test set)."""
    from secagg.rec import experiment
    from secagg.rec.data import load_ml100k
    from secagg.rec.evaluation import make_eval_set
    from secagg.rec.split import leave_one_out

    if args.population == "ml-100k":
        path = find_ml100k()
        if path is None:
            raise SystemExit("MovieLens 100K not found: set SECAGG_ML100K")
        data = load_ml100k(path)
    else:
        from secagg.rec.data import from_arrays
        from secagg.rec.synthetic import make_population

        cache = args.population_cache
        if cache is not None and cache.is_file():
            z = np.load(cache)
            data = from_arrays(z["users"], z["items"], None, z["timestamps"], source=str(z["source"]))
        else:
            data = make_population(args.users, seed=args.population_seed)
            if cache is not None:
                np.savez(cache, users=data.users, items=data.items, timestamps=data.timestamps,
                         source=np.array(data.source))
    if args.split == "test":
        prepared = experiment.prepare(data)
    else:
        split = leave_one_out(data, validation=True)
        prepared = experiment.Prepared(data=data, split=split, eval_set=make_eval_set(split, which="validation"))
    if args.eval_users and args.eval_users < len(prepared.eval_set):
        from dataclasses import replace

        e = prepared.eval_set
        keep = np.sort(np.random.default_rng(12345).choice(len(e), args.eval_users, replace=False))
        prepared = replace(prepared, eval_set=replace(e, users=e.users[keep], targets=e.targets[keep],
                                                      negatives=e.negatives[keep]))
    return prepared


def dp_popularity_point(prepared, args: argparse.Namespace, eps: float, seed: int) -> dict:
    """The DP popularity baseline at ``eps`` (one secure round with every client)."""
    from secagg.rec.dp_popularity import DPPopularityConfig
    from secagg.rec.experiment import run_dp_popularity

    out = run_dp_popularity(prepared, DPPopularityConfig(
        epsilon=eps, cap=args.dp_popularity_cap, bits=args.bits, accountant=args.accountant,
        aggregator=args.dp_popularity_aggregator, seed=seed))
    spent = out["privacy"]["epsilon_spent"]
    assert spent <= eps * (1 + 1e-9), f"DP popularity spent {spent} > target {eps}"
    assert out["privacy"]["sampling_probability"] == 1.0
    return {"seed": seed, "epsilon_spent": spent, "ndcg@10": out["metrics"]["ndcg@10"],
            "hr@10": out["metrics"]["hr@10"], "seconds": out["seconds"]}


def over_seeds(runs: list[dict]) -> dict:
    """Mean ± sd of the metrics of one curve point's per-seed runs."""
    from secagg.rec.evaluation import seed_summary

    return {"ndcg@10": seed_summary([r["ndcg@10"] for r in runs]),
            "hr@10": seed_summary([r["hr@10"] for r in runs]),
            "epsilon_spent": max(r["epsilon_spent"] for r in runs),
            "epsilon_server": max(r.get("epsilon_server", r["epsilon_spent"]) for r in runs), "runs": runs}


def curve(args: argparse.Namespace) -> dict:
    """Every point (federated DP-MF, DP popularity, the non-private baselines) over ``args.seeds``
    seeds: the training/sampling seed varies, the split and the evaluation candidates do not."""
    from secagg.rec import experiment
    from secagg.rec.baseline import CentralizedConfig, Popularity
    from secagg.rec.evaluation import evaluate, format_mean_sd, seed_summary
    from secagg.rec.train import FederatedConfig, FederatedTrainer

    prepared = load_population(args)
    users = int(np.count_nonzero(prepared.split.train.counts() > 0))
    probe = FederatedTrainer(prepared.split, FederatedConfig(factors=args.factors, rounds=1,
                                                             clients_per_round=2), aggregator=None)
    dim = int(probe.server.model.size)  # the dense item-model update the clients send
    seeds = list(range(args.seeds))
    print(f"{args.population} ({args.split} split): {users} users with training data, {prepared.split.n_items} items, model dim {dim}; "
          f"seeds {seeds}; split {prepared.split.protocol()}", flush=True)
    central, popular = [], []
    for seed in seeds:
        if args.centralized_epochs == 0:  # skipped (large populations); popularity alone
            popular.append(evaluate(Popularity().fit(prepared.split.train).scores, prepared.eval_set))
            continue
        base = experiment.run_baselines(prepared, CentralizedConfig(  # its own tuned lr, reg
            factors=args.factors, epochs=args.centralized_epochs or CentralizedConfig().epochs, seed=seed))
        central.append(base["centralized"]["metrics"])
        popular.append(base["popularity"]["metrics"])
    nan = {"mean": math.nan, "sd": math.nan, "n": 0, "values": []}
    central_s = {k: seed_summary([m[k] for m in central]) if central else nan for k in ("ndcg@10", "hr@10")}
    popular_s = {k: seed_summary([m[k] for m in popular]) for k in ("ndcg@10", "hr@10")}
    print(f"centralized: ndcg@10 {format_mean_sd(central_s['ndcg@10'])}; "
          f"popularity {format_mean_sd(popular_s['ndcg@10'])}", flush=True)
    rows = []
    for eps in args.epsilons:
        fed = over_seeds([dp_point(prepared, args, eps, seed, users, dim) for seed in seeds])
        pop = over_seeds([dp_popularity_point(prepared, args, eps, seed) for seed in seeds]) \
            if math.isfinite(eps) or args.dp_popularity_inf else None
        row = {"epsilon_target": eps, "epsilon_spent": fed["epsilon_spent"],
               "epsilon_release": fed["epsilon_spent"], "epsilon_server": fed["epsilon_server"],
               "delta": fed["runs"][0]["delta"],
               "noise_multiplier": fed["runs"][0]["noise_multiplier"], "ndcg@10": fed["ndcg@10"],
               "hr@10": fed["hr@10"], "runs": fed["runs"], "dp_popularity": pop}
        rows.append(row)
        line = (f"eps {eps:>5}: z={row['noise_multiplier']:.3f} release {row['epsilon_release']:.3f} "
                f"server {row['epsilon_server']:.3f} "
                f"DP-MF ndcg@10 {format_mean_sd(fed['ndcg@10'])}")
        if pop is not None:
            line += f"  DP popularity {format_mean_sd(pop['ndcg@10'])} (spent {pop['epsilon_spent']:.3f})"
        print(line, flush=True)
    return {"population": args.population, "evaluated_on": args.split, "users": users, "dim": dim,
            "seeds": seeds, "split": prepared.split.protocol(),
            "centralized": central_s, "popularity": popular_s, "rows": rows,
            "dp_popularity_cap": args.dp_popularity_cap}


def cap_sweep(args: argparse.Namespace) -> dict:
    """DP popularity NDCG@10 (mean ± sd over seeds) for each cap in ``--caps`` at each epsilon."""
    from secagg.rec import experiment
    from secagg.rec.data import load_ml100k
    from secagg.rec.evaluation import format_mean_sd, seed_summary

    path = find_ml100k()
    if path is None:
        raise SystemExit("MovieLens 100K not found: set SECAGG_ML100K")
    prepared = experiment.prepare(load_ml100k(path))
    rows = []
    for eps in args.epsilons:
        for cap in args.caps:
            args.dp_popularity_cap = cap
            runs = [dp_popularity_point(prepared, args, eps, seed) for seed in range(args.seeds)]
            ndcg = seed_summary([r["ndcg@10"] for r in runs])
            rows.append({"epsilon": eps, "cap": cap, "ndcg@10": ndcg, "runs": runs})
            print(f"eps {eps:>5} cap {cap:>5}: DP popularity ndcg@10 {format_mean_sd(ndcg)}", flush=True)
    return {"rows": rows, "seeds": args.seeds, "aggregator": args.dp_popularity_aggregator}


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
    n = len(result["seeds"])
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.errorbar([r["epsilon_target"] for r in finite], [r["ndcg@10"]["mean"] for r in finite],
                yerr=[r["ndcg@10"]["sd"] for r in finite], fmt="o-", capsize=3,
                label=f"{args.dp_backend} DP-MF, distributed Skellam ({args.accountant}), mean ± sd of {n} seeds")
    pops = [r for r in finite if r["dp_popularity"] is not None]
    if pops:
        ax.errorbar([r["epsilon_target"] for r in pops], [r["dp_popularity"]["ndcg@10"]["mean"] for r in pops],
                    yerr=[r["dp_popularity"]["ndcg@10"]["sd"] for r in pops], fmt="s--", capsize=3,
                    color="tab:purple", label=f"DP popularity (cap {args.dp_popularity_cap}), same protocol")
    for r in rows:
        if not math.isfinite(r["epsilon_target"]):
            ax.axhline(r["ndcg@10"]["mean"], color="tab:orange", ls="--", label="secagg+, no noise (eps = inf)")
    if math.isfinite(result["centralized"]["ndcg@10"]["mean"]):
        ax.axhline(result["centralized"]["ndcg@10"]["mean"], color="tab:green", ls=":",
                   label="centralized (non-private)")
    ax.axhline(result["popularity"]["ndcg@10"]["mean"], color="tab:gray", ls="-.", label="popularity (non-private)")
    if finite:  # a curve of eps = inf alone has no finite point to place on the log axis
        ax.set_xscale("log", base=2)
    ax.set_xlabel("user-level epsilon_release (delta = %.0e; the server's epsilon is larger)" % rows[0]["delta"])
    ax.set_ylabel("full-ranking NDCG@10")
    who = "all" if args.participation == "full" else args.clients_per_round
    ax.set_title(f"{result['population']} ({result['users']} users), {args.rounds} rounds x {who} clients")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out)


def print_curve(result: dict) -> None:
    from secagg.rec.evaluation import format_mean_sd

    n = len(result["seeds"])
    print(f"\nmean ± sd over {n} seeds; load {load()}")
    print(f"{'epsilon':>8} {'release':>8} {'server':>8} {'z':>7} {'DP-MF NDCG@10':>17} {'DP-pop NDCG@10':>17} "
          f"{'DP-pop spent':>12}")
    for r in result["rows"]:
        pop = r["dp_popularity"]
        pop_cells = (f"{format_mean_sd(pop['ndcg@10']):>17} {pop['epsilon_spent']:>12.3f}" if pop
                     else f"{'-':>17} {'-':>12}")
        print(f"{r['epsilon_target']:>8} {r['epsilon_release']:>8.3f} {r['epsilon_server']:>8.3f} "
              f"{r['noise_multiplier']:>7.3f} "
              f"{format_mean_sd(r['ndcg@10']):>17} {pop_cells}")
    print(f"{'central':>8} {'-':>8} {'-':>8} {'-':>7} {format_mean_sd(result['centralized']['ndcg@10']):>17}")
    print(f"{'popular':>8} {'-':>8} {'-':>8} {'-':>7} {format_mean_sd(result['popularity']['ndcg@10']):>17}")


def load() -> str:
    """``/proc/loadavg``'s 1/5/15-minute load (reported next to every figure)."""
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:  # pragma: no cover - not Linux
        return "unknown"


def merge(files: list[Path], out: Path) -> dict:
    """One curve from the JSON files of runs at different epsilons with the same settings (e.g. a
    curve run in parts): the rows sorted by epsilon, the table printed and the PNG drawn."""
    docs = [json.loads(Path(f).read_text()) for f in files]
    first = docs[0]["args"]
    fixed = ("population", "users", "rounds", "clients_per_round", "participation", "seeds", "split",
             "prior_share", "prior_weight", "head_items", "server_lr", "local_epochs", "dp_backend")
    for doc in docs[1:]:
        differ = [k for k in fixed if doc["args"].get(k) != first.get(k)]
        if differ:
            raise SystemExit(f"cannot merge runs whose settings differ in {differ}")
    result = dict(docs[0]["curve"])
    result["rows"] = sorted((r for d in docs for r in d["curve"]["rows"]), key=lambda r: r["epsilon_target"])
    result["loads"] = [d.get("load") for d in docs]
    print_curve(result)
    ns = argparse.Namespace(**first)
    plot(result, out / f"dp_curve_{result['population']}.png", ns)
    return result


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
    add_training_options(ap, privacy=False, levers=True, factors=16, clip_norm=1.0)  # as `secagg train`
    ap.add_argument("--population", default="ml-100k", choices=["ml-100k", "synthetic-100k"],
                    help="MovieLens 100K, or a synthetic population matching its statistics "
                         "(secagg.rec.synthetic.make_population; --users users)")
    ap.add_argument("--users", type=int, default=100_000, help="users of the synthetic population")
    ap.add_argument("--population-seed", type=int, default=0)
    ap.add_argument("--finetune-epochs", type=int, default=0,
                    help="local epochs of user-vector fine-tuning before evaluation (on the device, no privacy cost)")
    ap.add_argument("--population-cache", type=Path, default=None,
                    help="a .npz to store the generated synthetic population in (and reuse)")
    ap.add_argument("--eval-users", type=int, default=0,
                    help="evaluate a fixed seeded sample of this many users (0: all; the same for every method)")
    ap.add_argument("--split", default="test", choices=["test", "validation"],
                    help="evaluate on the test item, or on the validation item (to choose settings)")
    ap.add_argument("--dp-backend", default="secagg+", choices=["plain", "secagg", "secagg+"],
                    help="how DP-MF's noisy updates are summed (plain: the same noise, summed in the clear)")
    ap.add_argument("--prior-share", type=float, default=None,
                    help="the prior's epsilon as this share of each curve point's epsilon (instead of "
                         "--prior-epsilon; exact counts at eps = inf)")
    ap.add_argument("--delta", type=float, default=None, help="default: min(1 / users, 1e-5)")
    ap.add_argument("--centralized-epochs", type=int, default=None,
                    help="default: CentralizedConfig's (120)")
    ap.add_argument("--bits", type=int, default=32)
    ap.add_argument("--accountant", default="skellam", choices=["skellam", "gaussian"])
    ap.add_argument("--dropout-fraction", type=float, default=0.1)
    ap.add_argument("--seeds", type=int, default=3, help="seeds per curve point (mean ± sd; default: 3)")
    ap.add_argument("--dp-popularity-cap", type=int, default=None,
                    help="items per user in the DP popularity histogram (default: secagg.rec.dp_popularity.DEFAULT_CAP)")
    ap.add_argument("--dp-popularity-aggregator", default="secagg+", choices=["plain", "secagg", "secagg+"],
                    help="how the DP popularity histogram is summed (plain: same noise, summed in the clear)")
    ap.add_argument("--dp-popularity-inf", action="store_true", help="also a DP popularity row at eps = inf")
    ap.add_argument("--cap-sweep", action="store_true",
                    help="DP popularity NDCG@10 for each of --caps at each of --epsilons (the cap's measured rule)")
    ap.add_argument("--caps", default="2,8,16,32,64,128,1000")
    ap.add_argument("--out", type=Path, default=Path("runs/dp"))
    ap.add_argument("--merge", type=Path, nargs="+", default=None,
                    help="merge the curves of these bench_dp.json files (same settings, other epsilons)")
    args = ap.parse_args()
    if args.merge:
        args.out.mkdir(parents=True, exist_ok=True)
        doc = {"merged_from": [str(f) for f in args.merge], "curve": merge(args.merge, args.out), "load": load()}
        text = json.dumps(doc, indent=1, default=str)
        (args.out / "bench_dp.json").write_text(text)
        if args.json is not None:
            args.json.write_text(text)
        return 0
    if not (args.kernel or args.curve or args.accounting or args.cap_sweep):
        args.kernel = True
    args.epsilons = [float(e) for e in args.epsilons.split(",")]
    args.caps = [int(c) for c in args.caps.split(",")]
    if args.seeds < 1:
        ap.error("--seeds must be >= 1")
    if args.dp_popularity_cap is None:
        from secagg.rec.dp_popularity import DEFAULT_CAP

        args.dp_popularity_cap = DEFAULT_CAP
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
        doc["load"] = load()
        print_curve(result)
        plot(result, args.out / f"dp_curve_{args.population}.png", args)
    if args.cap_sweep:
        doc["cap_sweep"] = cap_sweep(args)
        doc["load"] = load()
        print(f"load {load()}")
    doc.setdefault("load", load())
    print(f"load average: {doc['load']}")
    text = json.dumps(doc, indent=1, default=str)
    (args.out / "bench_dp.json").write_text(text)
    if args.json is not None:
        args.json.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
