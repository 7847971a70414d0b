"""The federated training loop: sample, train locally, aggregate, apply, evaluate, checkpoint.

The loop talks to the aggregator only through :class:`secagg.aggregators.base.Aggregator`; it never
branches on which one is in use. Per round: the server samples clients and broadcasts the item
model; each client trains locally and produces a clipped dense update; dropouts are simulated
(each sampled client vanishes with probability ``dropout`` before a random protocol stage); the
aggregator returns the sum over the included clients; the server applies FedAvg or FedAdam to their
mean. A round whose aggregation cannot finish (too few survivors) leaves the model unchanged.
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from ..aggregators.base import Aggregator
from ..aggregators.registry import aggregator_options, create_aggregator
from ..errors import CheckpointError, ConfigError, PrivacyError, ThresholdError
from ..protocol.stage import contributes
from ..sim.backends.base import ClientBackend
from ..sim.backends.registry import check_backend
from .client import LocalConfig, RecClient
from .evaluation import METRIC_NAMES, EvalSet, summarize
from .model import ItemModel
from .optim import make_optimizer
from .prior import FittedPrior, PriorConfig, fit_prior, from_counts, head_coordinates, release_mechanism
from .sampling import ClientSampler, DropoutSimulator
from .server import RecServer
from .split import Split

if TYPE_CHECKING:
    from ..dp import DPConfig, DPPlan, PrivacyLedger

DP_AGGREGATORS = ("plain", "secagg", "secagg+")
"""Aggregators that can carry distributed DP (the backends of :func:`secagg.dp.make_dp_aggregator`)."""
SERVER_AVERAGES = ("included", "expected")
"""What the server divides the (noisy) sum by: the clients included, or the expected cohort size."""
ITEM_INITS = ("random", "features")
"""How item factors start: random normal, or a random projection of public item features."""


@dataclass(frozen=True)
class FederatedConfig:
    """Everything that defines a federated run (saved in checkpoints and metrics.json)."""

    factors: int = 32
    rounds: int = 50
    clients_per_round: int | None = 50
    sampling_rate: float | None = None
    local: LocalConfig = field(default_factory=LocalConfig)
    aggregator: str = "plain"
    quantization_range: int = 2**16
    aggregator_options: dict[str, Any] = field(default_factory=dict)
    server_optimizer: str = "fedavg"
    server_lr: float = 1.0
    optimizer_options: dict[str, Any] = field(default_factory=dict)
    dropout: float = 0.0
    init_scale: float = 0.1
    finetune_epochs: int = 0
    eval_every: int = 1
    seed: int = 0
    dp: DPConfig | None = None
    prior: PriorConfig | None = None
    server_average: str = "included"
    item_init: str = "random"

    def __post_init__(self) -> None:
        if self.factors < 1 or self.rounds < 0 or self.eval_every < 0 or self.finetune_epochs < 0:
            raise ConfigError("factors must be >= 1; rounds, eval_every and finetune_epochs >= 0")
        if self.clients_per_round is not None and self.sampling_rate is not None:
            raise ConfigError("give clients_per_round or sampling_rate, not both")
        if self.clients_per_round is None and self.sampling_rate is None:
            raise ConfigError("give clients_per_round or sampling_rate")
        if not 0 <= self.dropout < 1:
            raise ConfigError(f"dropout must be in [0, 1), got {self.dropout}")
        if self.quantization_range < 2:
            raise ConfigError("quantization_range must be >= 2")
        if self.server_average not in SERVER_AVERAGES:
            raise ConfigError(f"server_average must be one of {', '.join(SERVER_AVERAGES)}, "
                              f"got {self.server_average!r}")
        if self.item_init not in ITEM_INITS:
            raise ConfigError(f"item_init must be one of {', '.join(ITEM_INITS)}, got {self.item_init!r}")
        if self.prior is not None and not isinstance(self.prior, PriorConfig):
            raise ConfigError("prior must be a PriorConfig")
        if self.dp is not None:
            self._check_dp(self.dp)

    def _check_dp(self, dp: DPConfig) -> None:
        """The DP settings must describe this run (the accountant relies on them)."""
        if self.aggregator not in DP_AGGREGATORS:
            raise PrivacyError(f"distributed DP works with the aggregators {', '.join(DP_AGGREGATORS)}, "
                               f"not {self.aggregator!r}")
        if self.sampling_rate is not None:
            raise PrivacyError(f"a DP run's sampling comes from its DP plan ({dp.sampling}, "
                               f"clients_per_round={dp.clients_per_round} of num_users={dp.num_users}); "
                               "drop sampling_rate and give clients_per_round")
        mismatched = [name for name, ours, theirs in (
            ("clip_norm", self.local.clip_norm, dp.clip_norm),
            ("clients_per_round", self.clients_per_round, dp.clients_per_round),
            ("rounds", self.rounds, dp.rounds)) if ours != theirs]
        if mismatched:
            raise PrivacyError(f"the DP configuration differs from the training configuration in: "
                               f"{', '.join(mismatched)}; build both from the same values")
        if len(dp.prior_releases) != (0 if self.prior is None else 1):
            raise PrivacyError("a DP run with a prior composes exactly its one release "
                               "(DPConfig.prior_releases, see secagg.rec.prior.release_mechanism); "
                               f"this one has a prior: {self.prior is not None}, prior releases: "
                               f"{len(dp.prior_releases)}")
        if self.prior is not None and math.isinf(self.prior.epsilon):
            raise PrivacyError("a DP run's prior needs a finite epsilon (it is composed into the run's)")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @staticmethod
    def from_dict(data: dict[str, Any]) -> FederatedConfig:
        data = dict(data)
        data["local"] = LocalConfig(**data["local"])
        if data.get("dp") is not None:
            from ..dp import DPConfig

            data["dp"] = DPConfig(**{k: v for k, v in data["dp"].items() if not k.startswith("_")})
        if data.get("prior") is not None:
            data["prior"] = PriorConfig(**data["prior"])
        return FederatedConfig(**data)


def dropout_margin(dropout: float) -> float:
    """The dropout fraction the secure aggregators are set up to tolerate for a simulated rate.

    DP runs split the noise over ``ceil(clients_per_round * (1 - dropout_margin(dropout)))``
    clients, so a round with at least that many contributors gets at least the planned noise.
    """
    return min(0.5, max(0.1, 2 * dropout))


def data_fingerprint(split: Split) -> str:
    """A short hash of the training interactions and held-out items (checkpoints must match it)."""
    h = hashlib.sha256()
    for arr in (split.train.indptr, split.train.indices, split.test_items, split.validation_items):
        h.update(np.ascontiguousarray(arr, dtype=np.int64).tobytes())
    return h.hexdigest()[:16]


class FederatedTrainer:
    """Runs federated rounds over simulated clients, one per user with training data."""

    def __init__(self, split: Split, config: FederatedConfig, *, eval_set: EvalSet | None = None,
                 aggregator: Aggregator | None = None, backend: str | ClientBackend = "inprocess",
                 backend_options: Mapping[str, Any] | None = None,
                 sampler: ClientSampler | None = None, item_features: np.ndarray | None = None) -> None:
        """``item_features`` (public, one row per item, e.g. MovieLens genres) seed the item factors
        when ``config.item_init == "features"``. ``sampler`` replaces the configured client sampler
        (a DP run refuses one that differs from what its accountant analyses). ``backend``
        (``"inprocess"``, ``"ray"`` with ``backend_options`` such as ``address``) hosts the simulated
        clients of every aggregator that takes one (an execution choice, not part of the run's
        definition: the same clients are summed exactly either way, up to the stochastic rounding
        every secure round has)."""
        self.split = split
        self.config = config
        self.eval_set = eval_set
        root = np.random.SeedSequence(config.seed)
        server_seq, model_seq, clients_seq = root.spawn(3)
        self.rng = np.random.Generator(np.random.PCG64(server_seq))
        counts = split.train.counts()
        self.client_ids = np.flatnonzero(counts > 0)
        per_client = clients_seq.spawn(split.n_users)
        self.clients: dict[int, RecClient] = {
            int(u): RecClient(int(u), split.train.items_of(int(u)), split.n_items, config.factors,
                              per_client[u], init_scale=config.init_scale)
            for u in self.client_ids
        }
        model_rng = np.random.Generator(np.random.PCG64(model_seq))
        model = ItemModel.initial(split.n_items, config.factors, model_rng, config.init_scale)
        if config.item_init == "features":
            model.factors = feature_factors(item_features, split.n_items, config.factors, model_rng,
                                            config.init_scale)
        elif item_features is not None:
            raise ConfigError("item_features are used only with item_init='features'")
        self.prior: FittedPrior | None = None
        self._coords: np.ndarray | None = None  # the model entries clients upload (None: all)
        self._prior_mechanism = self._check_prior(split)
        self.update_size = model.size if not (config.prior and config.prior.head_items) else \
            config.prior.head_items * (config.factors + 1)
        options = {"server_lr": config.server_lr, **config.optimizer_options}
        self.server = RecServer(model, make_optimizer(config.server_optimizer, **options))
        if config.dp is not None:  # the sampler the accountant analyses, from the same plan
            self.sampler = ClientSampler.for_privacy(self.client_ids, config.dp, config.seed)
            if sampler is not None:
                sampler.check_matches(config.dp)
        else:
            self.sampler = sampler or ClientSampler(self.client_ids, per_round=config.clients_per_round,
                                                    rate=config.sampling_rate)
        self.dropouts = DropoutSimulator(config.dropout)
        # With config.dp the aggregator adds distributed noise and this ledger tracks epsilon.
        self.ledger: PrivacyLedger | None = None
        self.privacy_plan: DPPlan | None = None
        check_backend(backend, backend_options)
        where = {"backend": backend, "backend_options": dict(backend_options or {})}
        if config.dp is not None:
            if aggregator is not None:
                raise ConfigError("give an aggregator or config.dp, not both (config.dp builds its own)")
            from ..dp import make_dp_aggregator

            protocol = {**({"dropout_fraction": dropout_margin(config.dropout), "client_backend": backend,
                             "client_backend_options": where["backend_options"]}
                            if config.aggregator != "plain" else {}), **config.aggregator_options}
            dp_aggregator = make_dp_aggregator(config.aggregator, config.dp, self.update_size, **protocol)
            self.ledger, self.privacy_plan = dp_aggregator.ledger, dp_aggregator.plan
            aggregator = dp_aggregator
        if aggregator is None:
            options = {**self._settings_for(config.aggregator, where), **config.aggregator_options}
            aggregator = create_aggregator(config.aggregator, **options)
        self.aggregator = aggregator
        self.round = 0
        self.history: list[dict[str, Any]] = []
        self.fingerprint = data_fingerprint(split)

    def _settings_for(self, name: str, where: Mapping[str, Any]) -> dict[str, Any]:
        """What the run knows that an aggregator may take, offered to the one that takes it:
        the clip (any coordinate of a vector with L2 norm <= C lies in [-C, C]), the quantization,
        the largest round size, a dropout fraction with a safety margin over the simulated rate,
        and where the clients run (``where``: backend and its options; plain takes neither).
        ``config.aggregator_options`` are passed as given (checked)."""
        cfg = self.config
        known = {"clipping_range": cfg.local.clip_norm, "quantization_range": cfg.quantization_range,
                 "max_clients": int(cfg.clients_per_round or len(self.client_ids)),
                 "dropout_fraction": dropout_margin(cfg.dropout), **where}
        takes = set(aggregator_options(name))
        return {key: value for key, value in known.items() if key in takes}

    # --- the DP popularity prior ----------------------------------------------------------------
    def _check_prior(self, split: Split) -> Any:
        """The prior release's mechanism as the run's DP plan composes it (None without DP or a
        prior); refuses a plan whose stored release is not this prior's."""
        cfg = self.config
        if cfg.prior is None:
            return None
        if cfg.prior.head_items > split.n_items:
            raise ConfigError(f"head_items ({cfg.prior.head_items}) exceeds the {split.n_items} items")
        if cfg.dp is None:
            return None
        dp = cfg.dp
        want = release_mechanism(cfg.prior, num_users=dp.num_users, n_items=split.n_items,
                                 delta=dp.target_delta, accountant=dp.accountant, bits=dp.bits,
                                 aggregator=self._prior_aggregator())
        if not np.allclose(want, dp.prior_releases[0], rtol=1e-12, atol=0.0):
            raise PrivacyError(f"the DP plan composes a prior release {dp.prior_releases[0]} but this "
                               f"run's prior makes {want}; build the plan with secagg.rec.prior.release_mechanism")
        return dp.prior_mechanisms()[0]

    def _prior_aggregator(self) -> str:
        return self.config.aggregator if self.config.aggregator in DP_AGGREGATORS else "secagg+"

    def _popularity_config(self) -> Any:
        cfg, dp = self.config, self.config.dp
        assert cfg.prior is not None
        return cfg.prior.popularity_config(
            delta=None if dp is None else dp.target_delta, accountant="skellam" if dp is None else dp.accountant,
            bits=32 if dp is None else dp.bits, aggregator=self._prior_aggregator(), seed=cfg.seed)

    def ensure_prior(self) -> None:
        """Make the prior's one DP release (once per run, before the first round; a resumed run
        restores the released counts instead) and charge it to the ledger."""
        if self.config.prior is None or self.prior is not None:
            return
        self._install_prior(fit_prior(self.config.prior, self._popularity_config(), self.split.train))

    def _install_prior(self, fitted: FittedPrior) -> None:
        cfg = self.config
        assert cfg.prior is not None
        self.prior = fitted
        if fitted.head is not None:  # tail items: no learned part, ranked by the prior alone
            model = self.server.model
            tail = np.setdiff1d(np.arange(model.n_items), fitted.head)
            model.factors[tail] = 0.0
            model.biases[tail] = 0.0
            self._coords = head_coordinates(fitted.head, model.n_items, cfg.factors)
        if self.ledger is not None and self._prior_mechanism is not None:
            self.ledger.record_round(self._prior_mechanism, -1, participants=self.client_ids.tolist())

    # --- one round ------------------------------------------------------------------------
    def _check_cohort(self, size: int) -> None:
        """A DP round aborts (nothing trained or released) when its Poisson cohort is empty (or a
        single client for a secure aggregator) or exceeds the cohort the integer layout is sized
        for (probability <= COHORT_CAP_TAIL)."""
        if self.privacy_plan is None:
            return
        least = 1 if self.config.aggregator == "plain" else 2  # a secure sum needs two inputs
        if size < least:
            raise ThresholdError(f"the Poisson draw chose {size} client(s); secure aggregation with "
                                 f"{self.config.aggregator} needs {least}", stage="SAMPLING",
                                 survivors=size, threshold=least)
        cap = self.privacy_plan.config.cohort_cap
        if size > cap:
            raise ThresholdError(f"the Poisson draw chose {size} clients, more than the {cap} the DP "
                                 "layout is sized for", stage="SAMPLING", survivors=size, threshold=cap)

    def _aborted_round(self, sampled: int, exc: ThresholdError, t0: float, c0: float) -> dict[str, Any]:
        assert self.ledger is not None
        record: dict[str, Any] = {
            "round": self.round + 1, "sampled": sampled, "dropped": 0, "contributing": 0,
            "aborted": True, "abort_reason": str(exc), "included": 0, "bytes_sent": 0, "bytes_received": 0,
            "epsilon_release": self.ledger.epsilon_release(), "epsilon_server": self.ledger.epsilon_server(),
            "max_participation": self.ledger.max_participation, "model_download_bytes": 0,
            "model_version": self.server.model.version,
            "seconds": {"local_training": 0.0, "aggregation": 0.0, "server_update": 0.0,
                        "round": time.perf_counter() - t0, "round_cpu": time.process_time() - c0}}
        self.round += 1
        self.history.append(record)
        return record

    def run_round(self) -> dict[str, Any]:
        """Run the next round and return its record (also appended to ``history``)."""
        t0 = time.perf_counter()
        c0 = time.process_time()
        if self.config.dp is not None:  # a sampler swapped in after construction is refused too
            self.sampler.check_matches(self.config.dp)
        self.ensure_prior()
        sampled = self.sampler.sample(self.rng, self.round)
        payload = self.server.broadcast()
        dropouts = self.dropouts.draw(sampled, self.rng)
        try:
            self._check_cohort(len(sampled))
        except ThresholdError as exc:  # nothing trained, nothing released; the round is charged nothing
            return self._aborted_round(len(sampled), exc, t0, c0)
        # secure aggregators may start key agreement now, while the clients train
        self.aggregator.prepare([int(c) for c in sampled], vector_length=self.update_size,
                                dropouts=dropouts, round_index=self.round)
        updates, norms, losses = {}, [], []
        for cid in sampled:
            update = self.clients[int(cid)].train(payload, self.config.local, self._coords)
            updates[int(cid)] = update.vector
            self.aggregator.submit(int(cid), update.vector)  # the device uploads when it is done
            norms.append(update.norm)
            losses.append(update.loss)
        t1 = time.perf_counter()
        record: dict[str, Any] = {
            "round": self.round + 1,
            "sampled": len(sampled),
            "dropped": len(dropouts),
            "contributing": sum(contributes(dropouts.get(int(c))) for c in sampled),
            "mean_update_norm": float(np.mean(norms)),
            "clipped_fraction": float(np.mean(np.array(norms) > self.config.local.clip_norm)),
            "local_bpr_loglik": float(np.mean(losses)),
        }
        try:
            result = self.aggregator.aggregate(updates, dropouts=dropouts, round_index=self.round)
        except ThresholdError as exc:
            t2 = t3 = time.perf_counter()
            record.update(aborted=True, abort_reason=str(exc), included=0, bytes_sent=0, bytes_received=0)
        else:
            t2 = time.perf_counter()
            if self._coords is not None:  # the head items' entries: the rest of the model stays 0
                full = np.zeros(self.server.model.size, dtype=np.float64)
                full[self._coords] = result.total
                result = dataclasses.replace(result, total=full)
            if self.config.server_average == "expected":
                self.server.apply(result, denominator=self.sampler.expected())
            else:
                self.server.apply(result)
            t3 = time.perf_counter()
            record.update(aborted=False, included=result.num_included,
                          bytes_sent=result.total_bytes_sent(), bytes_received=result.total_bytes_received(),
                          aggregator_seconds={k: float(v) for k, v in result.seconds.items()})
        if self.ledger is not None:
            record["epsilon_release"] = self.ledger.epsilon_release()
            record["epsilon_server"] = self.ledger.epsilon_server()
            record["max_participation"] = self.ledger.max_participation
            if not record["aborted"]:
                record["noise_multiplier"] = self.ledger.history[-1]["noise_multiplier"]
        record["model_download_bytes"] = int(len(sampled) * payload.size * payload.factors.itemsize)
        record["model_version"] = self.server.model.version
        record["seconds"] = {"local_training": t1 - t0, "aggregation": t2 - t1, "server_update": t3 - t2,
                             "round": t3 - t0,
                             # this process, plus what the aggregator's remote clients spent
                             "round_cpu": time.process_time() - c0 + float(
                                 record.get("aggregator_seconds", {}).get("worker_cpu", 0.0))}
        self.round += 1
        cfg = self.config
        if self.eval_set is not None and cfg.eval_every and (self.round % cfg.eval_every == 0
                                                             or self.round == cfg.rounds):
            t4 = time.perf_counter()
            record["metrics"] = self.evaluate()
            record["seconds"]["evaluation"] = time.perf_counter() - t4
        self.history.append(record)
        return record

    def fit(self, *, progress: bool = False, callback: Callable[[FederatedTrainer, dict[str, Any]], None]
            | None = None) -> list[dict[str, Any]]:
        """Run the remaining rounds up to ``config.rounds`` (resumes where a checkpoint stopped)."""
        bar = None
        if progress:
            from tqdm.auto import tqdm

            bar = tqdm(total=self.config.rounds, initial=self.round, desc=f"federated {self.config.aggregator}",
                       unit="round")
        try:
            while self.round < self.config.rounds:
                record = self.run_round()
                if bar is not None:
                    bar.update(1)
                    postfix = {}
                    if "metrics" in record:
                        postfix.update(ndcg10=f"{record['metrics']['ndcg@10']:.4f}",
                                       hr10=f"{record['metrics']['hr@10']:.4f}")
                    if "epsilon_release" in record:
                        postfix["eps_release"] = f"{record['epsilon_release']:.3g}"
                        postfix["eps_server"] = f"{record['epsilon_server']:.3g}"
                    if postfix:
                        bar.set_postfix(**postfix)
                if callback is not None:
                    callback(self, record)
        finally:
            if bar is not None:
                bar.close()
            self.aggregator.close()  # the client backend's workers, if any (restarted if fit is called again)
        return self.history

    # --- evaluation (each client scores its own held-out item on its device) ----------------
    def evaluate(self, eval_set: EvalSet | None = None) -> dict[str, float]:
        eval_set = eval_set or self.eval_set
        if eval_set is None:
            raise ConfigError("no evaluation set was given")
        model = self.server.model
        self.ensure_prior()
        offset = None if self.prior is None else self.prior.scores
        rows = []
        for slot, user in enumerate(eval_set.users):
            rows.append(self.clients[int(user)].evaluate(
                model, int(eval_set.targets[slot]), eval_set.negatives[slot], k=eval_set.k,
                cfg=self.config.local, finetune_epochs=self.config.finetune_epochs, offset=offset))
        return summarize(np.array(rows)) if rows else {name: 0.0 for name in METRIC_NAMES}

    # --- checkpoint state ---------------------------------------------------------------------
    def state(self) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        """(arrays, JSON-able metadata) capturing the run exactly."""
        model = self.server.model
        arrays: dict[str, np.ndarray] = {"item_factors": model.factors, "item_biases": model.biases}
        opt = self.server.optimizer.state_dict()
        opt_meta = {}
        for key, value in opt.items():
            if isinstance(value, np.ndarray):
                arrays[f"optimizer/{key}"] = value
            else:
                opt_meta[key] = value
        client_states = [self.clients[int(u)].state() for u in self.client_ids]
        arrays["client_ids"] = self.client_ids
        arrays["user_vectors"] = np.concatenate([s["user"] for s in client_states]) if client_states else \
            np.zeros((0, self.config.factors), np.float32)
        meta = {
            "round": self.round,
            "model_version": model.version,
            "config": self.config.to_dict(),
            "data_fingerprint": self.fingerprint,
            "optimizer": {"name": self.server.optimizer.name, "state": opt_meta},
            "server_rng": self.rng.bit_generator.state,
            "client_rngs": [s["rng"] for s in client_states],
            "history": self.history,
        }
        if self.prior is not None:
            arrays["prior/counts"] = self.prior.counts
        if self.ledger is not None and self.privacy_plan is not None:
            meta["dp_plan"] = self.privacy_plan.stored()
            meta["dp_participation"] = self.ledger.participation()
        return arrays, meta

    def load_state(self, arrays: dict[str, np.ndarray], meta: dict[str, Any]) -> None:
        """Restore :meth:`state`; the configuration and data must match this trainer's."""
        if meta.get("data_fingerprint") != self.fingerprint:
            raise CheckpointError("the checkpoint was made on different data (fingerprint mismatch)")
        if self.privacy_plan is not None:  # before anything is restored: the noise must not change
            if "dp_plan" not in meta:
                raise PrivacyError("the checkpoint has no stored DP plan; it cannot be resumed as a DP run")
            self.privacy_plan.check_resumes(meta["dp_plan"])
        saved = FederatedConfig.from_dict(meta["config"])
        if saved != self.config:
            diff = sorted(k for k, v in saved.to_dict().items() if self.config.to_dict()[k] != v)
            raise CheckpointError(f"the checkpoint's configuration differs in: {', '.join(diff)}")
        if not np.array_equal(arrays["client_ids"], self.client_ids):
            raise CheckpointError("the checkpoint's clients differ from this run's")
        model = self.server.model
        if arrays["item_factors"].shape != model.factors.shape:
            raise CheckpointError("the checkpoint's item matrix has the wrong shape")
        model.factors = arrays["item_factors"].astype(np.float32).copy()
        model.biases = arrays["item_biases"].astype(np.float32).copy()
        model.version = int(meta["model_version"])
        opt_state = dict(meta["optimizer"]["state"])
        for key, value in arrays.items():
            if key.startswith("optimizer/"):
                opt_state[key.split("/", 1)[1]] = value
        if meta["optimizer"]["name"] != self.server.optimizer.name:
            raise CheckpointError("the checkpoint used a different server optimizer")
        self.server.optimizer.load_state_dict(opt_state)
        self.rng.bit_generator.state = meta["server_rng"]
        users = arrays["user_vectors"]
        for n, u in enumerate(self.client_ids):
            self.clients[int(u)].load_state({"user": users[n:n + 1], "rng": meta["client_rngs"][n]})
        self.round = int(meta["round"])
        self.history = list(meta["history"])
        if self.config.prior is not None and "prior/counts" in arrays:
            if self.ledger is not None and self.ledger.rounds:
                raise CheckpointError("restore a DP checkpoint into a fresh trainer")
            counts = np.asarray(arrays["prior/counts"], dtype=np.float64)
            self.prior = from_counts(self.config.prior, counts, self.config.seed)
            if self.prior.head is not None:
                self._coords = head_coordinates(self.prior.head, model.n_items, self.config.factors)
            if self.ledger is not None and self._prior_mechanism is not None:
                self.ledger.record_round(self._prior_mechanism, -1, participants=())
        if self.ledger is not None and self.privacy_plan is not None:
            self._replay_privacy(meta.get("dp_participation") or {})

    def _replay_privacy(self, participation: dict[str, int]) -> None:
        """Charge the ledger with the restored rounds (each with the noise its contributors added,
        under the stored plan) and their participation counts; both epsilons must match."""
        assert self.ledger is not None and self.privacy_plan is not None
        if self.ledger.rounds != (0 if self.prior is None else 1):
            raise CheckpointError("restore a DP checkpoint into a fresh trainer")
        plan = self.privacy_plan
        for record in self.history:
            if not record.get("aborted"):
                self.ledger.record_round(plan.config.round_mechanism(plan.params, int(record["included"])),
                                         int(record["round"]) - 1, participants=())
            saved = record.get("epsilon_release")
            if saved is None or not np.isclose(saved, self.ledger.epsilon_release(), rtol=1e-9, atol=0.0):
                raise CheckpointError(f"the checkpoint's epsilon at round {record['round']} ({saved}) does "
                                      "not match the privacy ledger rebuilt from it")
        self.ledger.restore_participation({int(k): int(v) for k, v in participation.items()})
        saved = self.history[-1].get("epsilon_server") if self.history else 0.0
        if saved is None or not np.isclose(saved, self.ledger.epsilon_server(), rtol=1e-9, atol=0.0):
            raise CheckpointError(f"the checkpoint's server epsilon ({saved}) does not match the "
                                  "privacy ledger rebuilt from it")


def feature_factors(features: np.ndarray | None, n_items: int, factors: int, rng: np.random.Generator,
                    scale: float) -> np.ndarray:
    """Item factors from public item features: each item's feature row, scaled to unit L2 norm,
    times a random normal projection (features x factors) times ``scale``; items with no feature
    get 0. Items that share features start close, with the spread of the random init."""
    if features is None:
        raise ConfigError("item_init='features' needs item_features (one row of public features per item)")
    f = np.asarray(features, dtype=np.float64)
    if f.ndim != 2 or f.shape[0] != n_items or f.shape[1] < 1 or not np.all(np.isfinite(f)):
        raise ConfigError(f"item_features must be a finite ({n_items}, k >= 1) array, got shape {f.shape}")
    norms = np.linalg.norm(f, axis=1, keepdims=True)
    unit = np.divide(f, norms, out=np.zeros_like(f), where=norms > 0)
    return (scale * unit @ rng.normal(0.0, 1.0, (f.shape[1], factors))).astype(np.float32)
