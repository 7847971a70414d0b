"""One complete experiment: split, federated training, optional baselines, metrics.json and the plot.

Used by ``secagg train``, ``secagg demo`` and the benchmark script.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from .. import __version__
from . import checkpoint
from .baseline import CentralizedConfig, CentralizedMF, Popularity
from .data import Interactions
from .dp_popularity import DPPopularity, DPPopularityConfig
from .evaluation import EvalSet, evaluate, make_eval_set
from .plot import plot_ndcg
from .split import Split, leave_one_out
from .train import FederatedConfig, FederatedTrainer


@dataclass(frozen=True)
class Prepared:
    data: Interactions
    split: Split
    eval_set: EvalSet


def prepare(data: Interactions, *, eval_seed: int = 0, ties: str = "random",
            tie_seed: int | None = None) -> Prepared:
    """Leave-one-out split (``ties``/``tie_seed``: see :mod:`secagg.rec.split`) and the test
    evaluation set (fixed sampled negatives)."""
    split = leave_one_out(data, ties=ties, tie_seed=tie_seed)
    return Prepared(data=data, split=split, eval_set=make_eval_set(split, seed=eval_seed))


def run_dp_popularity(prepared: Prepared, config: DPPopularityConfig, **protocol_options: Any
                      ) -> dict[str, Any]:
    """The DP popularity baseline (one secure round with every client) and its metrics."""
    t0 = time.perf_counter()
    model = DPPopularity(config).fit(prepared.split.train, **protocol_options)
    seconds = time.perf_counter() - t0
    return {"metrics": evaluate(model.scores, prepared.eval_set), "seconds": seconds,
            "config": asdict(config), "privacy": model.privacy}


def run_baselines(prepared: Prepared, config: CentralizedConfig, *, progress: bool = False,
                  dp_popularity: DPPopularityConfig | None = None) -> dict[str, Any]:
    """Popularity, centralized MF and (with ``dp_popularity``) DP popularity on the same split."""
    t0 = time.perf_counter()
    pop = evaluate(Popularity().fit(prepared.split.train).scores, prepared.eval_set)
    t1 = time.perf_counter()
    central = CentralizedMF(config).fit(prepared.split.train, progress=progress)
    t2 = time.perf_counter()
    out = {
        "popularity": {"metrics": pop, "seconds": t1 - t0},
        "centralized": {"metrics": evaluate(central.scores, prepared.eval_set), "seconds": t2 - t1,
                        "config": config.__dict__},
    }
    if dp_popularity is not None:
        out["dp_popularity"] = run_dp_popularity(prepared, dp_popularity)
    return out


def summarize_run(trainer: FederatedTrainer, seconds: float) -> dict[str, Any]:
    hist = trainer.history
    evaluated = [r for r in hist if "metrics" in r]
    done = [r for r in hist if not r.get("aborted")]
    return {
        "final_metrics": evaluated[-1]["metrics"] if evaluated else None,
        "best_ndcg@10": max((r["metrics"]["ndcg@10"] for r in evaluated), default=None),
        "rounds_run": len(hist),
        "rounds_aborted": sum(1 for r in hist if r.get("aborted")),
        "seconds_total": seconds,
        "seconds_per_round": (sum(r["seconds"]["round"] for r in hist) / len(hist)) if hist else 0.0,
        "cpu_seconds_per_round": (sum(r["seconds"]["round_cpu"] for r in hist) / len(hist)) if hist else 0.0,
        "aggregation_seconds_per_round": (sum(r["seconds"]["aggregation"] for r in hist) / len(hist))
        if hist else 0.0,
        "bytes_sent_total": sum(r.get("bytes_sent", 0) for r in done),
        "bytes_received_total": sum(r.get("bytes_received", 0) for r in done),
        "model_download_bytes_total": sum(r["model_download_bytes"] for r in hist),
    }


def run_federated(prepared: Prepared, config: FederatedConfig, *, progress: bool = False,
                  checkpoint_path: Path | None = None, checkpoint_every: int = 0, resume: bool = False,
                  on_round: Callable[[FederatedTrainer, dict[str, Any]], None] | None = None,
                  backend: str = "inprocess",
                  backend_options: Mapping[str, Any] | None = None,
                  item_features: Any = None) -> tuple[FederatedTrainer, dict[str, Any]]:
    """Train (or resume) a federated run; returns the trainer and its summary.

    ``backend`` (``"inprocess"`` or ``"ray"``, with ``backend_options``) hosts the aggregator's
    simulated clients; ``item_features``: public item features for ``config.item_init == "features"``.
    """
    trainer = FederatedTrainer(prepared.split, config, eval_set=prepared.eval_set, backend=backend,
                               backend_options=backend_options, item_features=item_features)
    if resume and checkpoint_path is not None and checkpoint_path.is_file():
        trainer.load_state(*checkpoint.load(checkpoint_path))

    def callback(tr: FederatedTrainer, record: dict[str, Any]) -> None:
        if checkpoint_path is not None and checkpoint_every and tr.round % checkpoint_every == 0:
            checkpoint.save(checkpoint_path, *tr.state())
        if on_round is not None:
            on_round(tr, record)

    t0 = time.perf_counter()
    trainer.fit(progress=progress, callback=callback)
    seconds = time.perf_counter() - t0
    if checkpoint_path is not None and checkpoint_every:
        checkpoint.save(checkpoint_path, *trainer.state())
    return trainer, summarize_run(trainer, seconds)


def privacy_block(trainer: FederatedTrainer) -> dict[str, Any]:
    """The ``privacy`` block of metrics.json: the plan, both epsilons spent, what each means."""
    plan, ledger = trainer.privacy_plan, trainer.ledger
    assert plan is not None and ledger is not None
    c = plan.config
    sampling = (f"Poisson: each of the {c.num_users} users joins each round independently with "
                f"probability {c.sampling_probability:.6g}" if c.sampling == "poisson" else
                f"fixed-size: exactly {c.clients_per_round} of {c.num_users} users, without replacement")
    return {**plan.report(), "epsilon_release": ledger.epsilon_release(),
            "epsilon_server": ledger.epsilon_server(), "max_participation": ledger.max_participation,
            "rounds_charged": ledger.rounds,
            "guarantee": {
                "unit": f"user-level (one user = one client), {c.adjacency} adjacency",
                "sampling": sampling,
                "epsilon_release": "against anyone who sees only the released models; amplified by "
                                   "the sampling above (holds if the sampler is run as stated)",
                "epsilon_server": "against the server, which picks and sees the cohort: no amplification; "
                                  "the unsampled mechanism composed over max_participation rounds (the "
                                  "most any one user took part in), taking the least-noisy rounds",
                "assumes": "every contributing client adds its share of noise (honest clients)",
                **({"prior": "the DP popularity prior's release (one round, every user, no amplification) "
                             "is composed into both epsilons"} if c.prior_releases else {})}}


def write_outputs(output: Path, *, prepared: Prepared, config: FederatedConfig, trainer: FederatedTrainer,
                  summary: dict[str, Any], baselines: dict[str, Any] | None) -> dict[str, Any]:
    """Write ``metrics.json`` and ``ndcg.png`` to ``output``; returns the JSON document."""
    output.mkdir(parents=True, exist_ok=True)
    doc = {
        "secagg_version": __version__,
        "data": {"source": prepared.data.source, "users": prepared.split.n_users, "items": prepared.split.n_items,
                 "train_interactions": prepared.split.train.nnz, "eval_users": len(prepared.eval_set)},
        "split": prepared.split.protocol(),
        "config": config.to_dict(),
        "summary": summary,
        "rounds": trainer.history,
        "baseline": baselines,
    }
    if trainer.ledger is not None and trainer.privacy_plan is not None:
        doc["privacy"] = privacy_block(trainer)
    (output / "metrics.json").write_text(json.dumps(doc, indent=1, default=float))
    if summary["final_metrics"] is not None:
        plot_ndcg(trainer.history, output / "ndcg.png",
                  baseline=baselines["centralized"]["metrics"]["ndcg@10"] if baselines else None,
                  popularity=baselines["popularity"]["metrics"]["ndcg@10"] if baselines else None,
                  title=f"Federated MF ({config.aggregator}), {prepared.data.source}")
    return doc
