"""The ``secagg`` console command: ``train``, ``demo`` and ``download``."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .aggregators.registry import available_aggregators
from .errors import ConfigError, PrivacyError, SecAggError
from .rec.options import (
    add_training_options,
    dp_config,
    local_config,
    optimizer_options,
    positive_int,
    prior_config,
    resolve_participation,
    server_lr,
    wants_dp,
)
from .sim.backends.registry import BACKENDS

DEMO_AGGREGATOR = "secagg+"


def _rate(text: str) -> float:
    value = float(text)
    if not 0 <= value < 1:
        raise argparse.ArgumentTypeError(f"must be in [0, 1), got {value}")
    return value


def _backend(args: argparse.Namespace) -> dict[str, Any]:
    """``backend`` and ``backend_options`` for the run, from --backend and --ray-address."""
    if args.ray_address is not None and args.backend != "ray":
        raise ConfigError(f"--ray-address needs --backend ray, got --backend {args.backend}")
    options = {"address": args.ray_address} if args.ray_address is not None else {}
    return {"backend": args.backend, "backend_options": options}


def _add_run_options(p: argparse.ArgumentParser, *, rounds: int, aggregator: str, eval_every: int = 1,
                     **training_defaults: Any) -> None:
    """The options of a simulated run: the shared training options plus the simulation's own."""
    p.add_argument("--aggregator", choices=available_aggregators(), default=aggregator,
                   help=f"how client updates are summed (default: {aggregator})")
    p.add_argument("--rounds", type=positive_int, default=rounds, help=f"federated rounds (default: {rounds})")
    add_training_options(p, levers=True, **training_defaults)
    p.add_argument("--sampling-rate", type=float, default=None,
                   help="Poisson sampling: each client joins a round with this probability "
                        "(instead of --clients-per-round)")
    p.add_argument("--dropout", type=_rate, default=0.0,
                   help="probability that a sampled client drops out, before a random stage (default: 0)")
    p.add_argument("--eval-every", type=int, default=eval_every,
                   help=f"evaluate every N rounds and after the last (default: {eval_every})")
    p.add_argument("--finetune-epochs", type=int, default=0,
                   help="local fine-tuning of the user vector before each evaluation (personalisation)")
    p.add_argument("--backend", choices=BACKENDS, default="inprocess",
                   help="where the simulated clients' aggregation work runs (secagg, secagg+, he-*, DP): "
                        "inprocess, or ray (Ray actors, local or --ray-address); the same clients are "
                        "summed exactly either way (default: inprocess)")
    p.add_argument("--ray-address", default=None, metavar="ADDR",
                   help="with --backend ray: an existing Ray cluster (e.g. auto, ray://host:10001); "
                        "default: a local Ray instance on this machine's cores")
    p.add_argument("--baseline-epochs", type=positive_int, default=None,
                   help="epochs of the centralized baseline (default: 120 for train, 20 for demo)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="secagg", description="Secure aggregation for federated recommenders.")
    sub = parser.add_subparsers(dest="command", required=True)

    train = sub.add_parser("train", help="train a federated recommender and write metrics.json + a plot")
    train.add_argument("--data", default="synthetic",
                       help="synthetic, ml-100k, another downloaded MovieLens name, or a path (default: synthetic)")
    _add_run_options(train, rounds=50, aggregator="plain")
    train.add_argument("--output", type=Path, required=True, help="directory for metrics.json and ndcg.png")
    train.add_argument("--baseline", action="store_true",
                       help="also train the centralized, popularity and DP popularity baselines")
    train.add_argument("--dp-popularity-epsilon", type=float, default=None,
                       help="epsilon of the DP popularity baseline (default: --epsilon if given, else 8)")
    train.add_argument("--dp-popularity-cap", type=int, default=None,
                       help="items each user contributes at most to the DP popularity histogram (default: 32)")
    train.add_argument("--ties", choices=("random", "item-id"), default="random",
                       help="leave-one-out: which of several items at a user's latest second is held out "
                            "(random: seeded by --tie-seed; item-id: the largest id) (default: random)")
    train.add_argument("--tie-seed", type=int, default=None, help="seed of --ties random (default: 0)")
    train.add_argument("--checkpoint-every", type=int, default=0, help="save a checkpoint every N rounds")
    train.add_argument("--resume", action="store_true", help="resume from OUTPUT/checkpoint.npz when present")
    train.add_argument("--no-progress", action="store_true", help="no progress bar")

    demo = sub.add_parser("demo", help="a short secure federated run on built-in synthetic data")
    _add_run_options(demo, rounds=20, aggregator=DEMO_AGGREGATOR, eval_every=5, factors=16)
    demo.add_argument("--output", type=Path, default=None, help="also write metrics.json and ndcg.png here")
    demo.add_argument("--no-progress", action="store_true", help="no progress bar")

    dl = sub.add_parser("download", help="download and verify a MovieLens archive into the cache")
    dl.add_argument("name", help="ml-100k, ml-1m, ml-20m, ml-25m or ml-latest-small")
    dl.add_argument("--cache-dir", type=Path, default=None, help="default: $SECAGG_CACHE or ~/.cache/secagg")

    from .net.cli import (
        add_net_commands,  # server, client, status, certs (need the [net] extra)
    )

    add_net_commands(sub)
    return parser


def _dp_config(args: argparse.Namespace, prepared: Any) -> Any:
    """The DPConfig the DP options ask for (None without --epsilon / --noise-multiplier).

    Raises :class:`PrivacyError` on bad input, before any client is built or trained.
    """
    if not wants_dp(args):
        return None
    from .rec.train import DP_AGGREGATORS, dropout_margin

    if args.aggregator not in DP_AGGREGATORS:
        raise PrivacyError(f"--epsilon / --noise-multiplier work with --aggregator "
                           f"{', '.join(DP_AGGREGATORS)}, not {args.aggregator}")
    if args.sampling_rate is not None:
        raise PrivacyError("--epsilon / --noise-multiplier take --clients-per-round M (with --dp-sampling "
                           "poisson each user joins with probability M / users), not --sampling-rate")
    users = int((prepared.split.train.counts() > 0).sum())
    return dp_config(args, num_users=users, rounds=args.rounds, dropout_fraction=dropout_margin(args.dropout),
                     n_items=prepared.split.n_items, aggregator=args.aggregator)


def _privacy_line(trainer: Any) -> str | None:
    if trainer.ledger is None:
        return None
    plan, ledger = trainer.privacy_plan, trainer.ledger
    return (f"privacy: epsilon_release {ledger.epsilon_release():.4g} (observers of the models; "
            f"{plan.config.sampling} sampling), epsilon_server {ledger.epsilon_server():.4g} (the server; "
            f"{ledger.max_participation} rounds of the most frequent user) at delta "
            f"{plan.config.target_delta:.3g} after {ledger.rounds} rounds (user-level, {plan.config.adjacency}; "
            f"noise multiplier {plan.noise_multiplier:.4g}, {plan.config.accountant} accountant, planned "
            f"epsilon_release {plan.planned_epsilon:.4g})")


def _config(args: argparse.Namespace, prepared: Any) -> Any:
    from .rec.train import FederatedConfig

    resolve_participation(args, int((prepared.split.train.counts() > 0).sum()))
    prior = prior_config(args)
    dp = _dp_config(args, prepared)  # first: DP input errors name the DP setting at fault
    per_round = args.clients_per_round if args.sampling_rate is None else None
    return FederatedConfig(
        factors=args.factors, rounds=args.rounds,
        clients_per_round=None if args.sampling_rate is not None else args.clients_per_round,
        sampling_rate=args.sampling_rate,
        local=local_config(args), aggregator=args.aggregator, quantization_range=args.quantization_range,
        server_optimizer=args.server_optimizer, server_lr=server_lr(args, per_round), dropout=args.dropout,
        eval_every=args.eval_every, finetune_epochs=args.finetune_epochs, seed=args.seed,
        dp=dp, prior=prior, optimizer_options=optimizer_options(args), server_average=args.server_average,
        item_init=args.item_init)


def _item_features(config: Any, data: Any) -> Any:
    """The public item features ``--item-init features`` needs (MovieLens 100K genres from the
    ``u.item`` beside ``u.data``); None otherwise."""
    if config.item_init != "features":
        return None
    from .errors import ConfigError
    from .rec.features import load_ml100k_genres, locate_item_file

    path = locate_item_file(data)
    if path is None:
        raise ConfigError("--item-init features needs public item features: MovieLens 100K's u.item "
                          "beside u.data (use --data ml-100k or its directory)")
    return load_ml100k_genres(path, data)


def _baseline_config(args: argparse.Namespace, default_epochs: int | None = None) -> Any:
    """The centralized baseline: the run's factors and seed, its own tuned lr/reg/epochs
    (:class:`~secagg.rec.baseline.CentralizedConfig`), ``--baseline-epochs`` if given."""
    from .rec.baseline import CentralizedConfig

    epochs = args.baseline_epochs or default_epochs or CentralizedConfig().epochs
    return CentralizedConfig(factors=args.factors, epochs=epochs, seed=args.seed)


def _dp_popularity_config(args: argparse.Namespace) -> Any:
    """The DP popularity baseline of ``--baseline`` (None without the [dp] extra); checked here,
    before any work."""
    from .rec.dp_popularity import AGGREGATORS, DEFAULT_CAP, DPPopularityConfig

    epsilon = args.dp_popularity_epsilon
    if epsilon is None:
        epsilon = args.epsilon if getattr(args, "epsilon", None) is not None else 8.0
    config = DPPopularityConfig(
        epsilon=epsilon, cap=DEFAULT_CAP if args.dp_popularity_cap is None else args.dp_popularity_cap,
        delta=getattr(args, "delta", None), accountant=getattr(args, "dp_accountant", None) or "skellam",
        bits=getattr(args, "dp_bits", None) or 32,
        aggregator=args.aggregator if args.aggregator in AGGREGATORS else "secagg+", seed=args.seed)
    try:
        import dp_accounting  # noqa: F401
    except ImportError:
        print("secagg: DP popularity baseline skipped: it needs the [dp] extra (pip install 'secagg[dp]')",
              file=sys.stderr)
        return None
    return config


def _format_bytes(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GB"  # pragma: no cover


def format_table(rows: list[tuple[str, dict[str, float], str, str]]) -> str:
    """A small fixed-width table: method, HR@10, NDCG@10, sampled HR@10 / NDCG@10, s/round, bytes."""
    head = f"{'method':<28} {'HR@10':>7} {'NDCG@10':>8} {'sHR@10':>7} {'sNDCG@10':>9} {'s/round':>8} {'upload':>10}"
    lines = [head, "-" * len(head)]
    for name, m, secs, nbytes in rows:
        lines.append(f"{name:<28} {m['hr@10']:>7.4f} {m['ndcg@10']:>8.4f} {m['sampled_hr@10']:>7.4f} "
                     f"{m['sampled_ndcg@10']:>9.4f} {secs:>8} {nbytes:>10}")
    return "\n".join(lines)


def _train(args: argparse.Namespace) -> int:
    from .rec import experiment
    from .rec.datasets import load_dataset

    dp_popularity = _dp_popularity_config(args) if args.baseline else None
    data = load_dataset(args.data, seed=args.seed)
    prepared = experiment.prepare(data, ties=args.ties, tie_seed=args.tie_seed)
    config = _config(args, prepared)
    features = _item_features(config, data)
    ckpt = args.output / "checkpoint.npz"
    trainer, summary = experiment.run_federated(
        prepared, config, progress=not args.no_progress, checkpoint_path=ckpt,
        checkpoint_every=args.checkpoint_every, resume=args.resume, item_features=features, **_backend(args))
    baselines = None
    if args.baseline:
        baselines = experiment.run_baselines(prepared, _baseline_config(args), progress=not args.no_progress,
                                             dp_popularity=dp_popularity)
    experiment.write_outputs(args.output, prepared=prepared, config=config, trainer=trainer, summary=summary,
                             baselines=baselines)
    rows = []
    if summary["final_metrics"] is not None:
        rows.append((f"federated {config.aggregator}", summary["final_metrics"],
                     f"{summary['seconds_per_round']:.3f}", _format_bytes(summary["bytes_sent_total"])))
    if baselines:
        rows.append(("centralized", baselines["centralized"]["metrics"], "-", "-"))
        rows.append(("popularity", baselines["popularity"]["metrics"], "-", "-"))
        if "dp_popularity" in baselines:
            dpp = baselines["dp_popularity"]
            rows.append((f"DP popularity eps {dpp['privacy']['epsilon_spent']:.3g} cap {dpp['config']['cap']}",
                         dpp["metrics"], "-", "-"))
    if rows:
        print(format_table(rows))
    privacy = _privacy_line(trainer)
    if privacy:
        print(privacy)
    print(f"wrote {args.output / 'metrics.json'}")
    return 0


def _demo(args: argparse.Namespace) -> int:
    from .rec import experiment
    from .rec.synthetic import make_synthetic

    start = time.perf_counter()
    prepared = experiment.prepare(make_synthetic(seed=args.seed))
    config = _config(args, prepared)
    print(f"secagg demo: {prepared.split.n_users} synthetic users, {prepared.split.n_items} items, "
          f"{config.rounds} rounds of {config.clients_per_round} clients with {config.aggregator}"
          + (f", {config.dropout:.0%} dropout" if config.dropout else ""))
    trainer, summary = experiment.run_federated(prepared, config, progress=not args.no_progress,
                                                **_backend(args))
    baselines = experiment.run_baselines(prepared, _baseline_config(args, 20))
    if args.output is not None:
        experiment.write_outputs(args.output, prepared=prepared, config=config, trainer=trainer,
                                 summary=summary, baselines=baselines)
    rows = [(f"federated {config.aggregator}", summary["final_metrics"] or trainer.evaluate(),
             f"{summary['seconds_per_round']:.3f}", _format_bytes(summary["bytes_sent_total"])),
            ("centralized", baselines["centralized"]["metrics"], "-", "-"),
            ("popularity", baselines["popularity"]["metrics"], "-", "-")]
    print(format_table(rows))
    privacy = _privacy_line(trainer)
    if privacy:
        print(privacy)
    print(f"finished in {time.perf_counter() - start:.1f} s")
    return 0


def _download(args: argparse.Namespace) -> int:
    from .rec.download import download_dataset

    path = download_dataset(args.name, cache_dir=args.cache_dir)
    print(path)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        handler = getattr(args, "handler", None) or {"train": _train, "demo": _demo,
                                                      "download": _download}[args.command]
        return handler(args)
    except SecAggError as exc:
        print(f"secagg: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
