"""A Flower app training this project's federated recommender (MF-BPR, ``secagg.rec``) through
``secagg.flower``'s secure aggregation.

Each Flower node is one user's device: it holds that user's interactions and user vector (kept in
its node context between rounds, never sent), trains locally and returns only its clipped dense
item-model update. ``secagg.flower.SecAggPlusWorkflow`` sums the updates securely; the strategy
applies their mean as a server step (FedAvg with a server learning rate). Clients evaluate their
held-out item (leave-one-out) and report HR@10 / NDCG@10, averaged by the strategy.

    python examples/flower/recommender_app.py --data synthetic --clients 30 --rounds 5
    python examples/flower/recommender_app.py --data /path/to/ml-100k --clients 100 --rounds 10
    python examples/flower/recommender_app.py --engine local ...   # in process, no Ray

``--data`` is ``synthetic``, ``ml-100k`` (located as ``secagg train`` does) or a path to a ratings
file or the MovieLens directory. :func:`make_server_app` and :func:`make_client_app` build the app's
two halves; with ``--engine ray`` (default) they run under Flower's ``run_simulation``.
"""

from __future__ import annotations

import argparse
import functools
import io
import json
import os
import sys

import numpy as np
from flwr.app import ConfigRecord, Context, RecordDict
from flwr.client import NumPyClient
from flwr.clientapp import ClientApp
from flwr.common import ndarrays_to_parameters, parameters_to_ndarrays
from flwr.server import ServerConfig
from flwr.server.compat.legacy_context import LegacyContext
from flwr.server.strategy import FedAvg
from flwr.server.workflow import DefaultWorkflow
from flwr.serverapp import ServerApp

from secagg.flower import LocalGrid, SecAggPlusWorkflow, secaggplus_mod
from secagg.rec.client import LocalConfig, RecClient
from secagg.rec.datasets import load_dataset
from secagg.rec.model import ItemModel
from secagg.rec.split import Split, leave_one_out

FACTORS = 16
LOCAL = LocalConfig(epochs=1, lr=0.05, clip_norm=1.0)


@functools.lru_cache(maxsize=2)
def split_for(data: str) -> Split:
    """The leave-one-out split every node and the server derive from the same data (cached per process)."""
    return leave_one_out(load_dataset(data), ties="random", tie_seed=0)


def to_arrays(model: ItemModel) -> list[np.ndarray]:
    return [model.factors, model.biases]


def to_model(arrays: list[np.ndarray]) -> ItemModel:
    return ItemModel(factors=np.asarray(arrays[0], np.float32), biases=np.asarray(arrays[1], np.float32))


class UserDevice(NumPyClient):
    """One user: trains against the global item model, keeps its user vector in its node state."""

    def __init__(self, context: Context, data: str) -> None:
        self.state = context.state
        split = split_for(data)
        self.user = int(context.node_config["partition-id"])
        self.target = int(split.test_items[self.user])
        self.device = RecClient(self.user, split.train.items_of(self.user), split.n_items, FACTORS,
                                np.random.SeedSequence([7, self.user]))
        saved = self.state.config_records.get("rec.user")
        if saved is not None:  # this device's user vector and generator, from its earlier rounds
            with np.load(io.BytesIO(saved["npz"]), allow_pickle=False) as f:
                self.device.load_state({"user": f["user"], "rng": json.loads(saved["rng"])})

    def _save(self) -> None:
        buffer = io.BytesIO()
        state = self.device.state()
        np.savez(buffer, user=state["user"])
        self.state.config_records["rec.user"] = ConfigRecord({"npz": buffer.getvalue(),
                                                               "rng": json.dumps(state["rng"])})

    def fit(self, parameters, config):
        update = self.device.train(to_model(parameters), LOCAL)
        self._save()
        n_items = len(parameters[1])
        delta = update.vector
        return [delta[:n_items * FACTORS].reshape(n_items, FACTORS), delta[n_items * FACTORS:]], 1, {}

    def evaluate(self, parameters, config):
        if self.target < 0:
            return 0.0, 0, {}
        negatives = np.random.default_rng([11, self.user]).choice(len(parameters[1]), 99)
        hr, ndcg, _, _ = self.device.evaluate(to_model(parameters), self.target, negatives)
        return 0.0, 1, {"hr@10": float(hr), "ndcg@10": float(ndcg)}


def make_client_app(data: str) -> ClientApp:
    """The ClientApp: each node is the user whose index is its partition id."""
    return ClientApp(client_fn=lambda context: UserDevice(context, data).to_client(), mods=[secaggplus_mod])


class ServerStep(FedAvg):
    """FedAvg whose aggregate is the clients' mean *update*: the global model takes a step with it."""

    def __init__(self, model: ItemModel, server_lr: float, **kwargs) -> None:
        super().__init__(initial_parameters=ndarrays_to_parameters(to_arrays(model)), **kwargs)
        self.model, self.server_lr = model, server_lr
        self.history: list[dict[str, float]] = []

    def aggregate_fit(self, server_round, results, failures):
        mean, metrics = super().aggregate_fit(server_round, results, failures)
        if mean is None:
            return None, metrics
        delta = parameters_to_ndarrays(mean)
        self.model.factors += self.server_lr * delta[0].astype(np.float32)
        self.model.biases += self.server_lr * delta[1].astype(np.float32)
        return ndarrays_to_parameters(to_arrays(self.model)), metrics

    def aggregate_evaluate(self, server_round, results, failures):
        loss, _ = super().aggregate_evaluate(server_round, results, failures)
        n = sum(r.num_examples for _, r in results) or 1
        metrics = {k: sum(r.num_examples * r.metrics.get(k, 0.0) for _, r in results) / n
                   for k in ("hr@10", "ndcg@10")}
        self.history.append({"round": server_round, **metrics})
        print(f"round {server_round}: HR@10 {metrics['hr@10']:.3f}  NDCG@10 {metrics['ndcg@10']:.3f} "
              f"({n} users)", flush=True)
        return loss, metrics


def make_server_app(data: str, clients: int, rounds: int, server_lr: float = 1.0):
    """The ServerApp and its strategy (returned so a caller can read the history)."""
    split = split_for(data)
    model = ItemModel.initial(split.n_items, FACTORS, np.random.default_rng(0))
    strategy = ServerStep(model, server_lr, fraction_fit=1.0, fraction_evaluate=1.0, min_fit_clients=clients,
                          min_evaluate_clients=clients, min_available_clients=clients)
    app = ServerApp()

    @app.main()
    def main(grid, context):
        legacy = LegacyContext(context=context, config=ServerConfig(num_rounds=rounds), strategy=strategy)
        workflow = SecAggPlusWorkflow(num_shares=None, reconstruction_threshold=None, clipping_range=LOCAL.clip_norm,
                                      quantization_range=2**16, modulus_range=None, max_weight=1.0)
        DefaultWorkflow(fit_workflow=workflow)(grid, legacy)

    return app, strategy


def run(data: str, clients: int, rounds: int, engine: str = "ray") -> list[dict[str, float]]:
    """Train for ``rounds`` rounds with ``clients`` users (the first ones of the data set)."""
    split = split_for(data)
    if not 2 <= clients <= split.n_users:
        raise SystemExit(f"--clients must be in [2, {split.n_users}] for {data}")
    server_app, strategy = make_server_app(data, clients, rounds)
    client_app = make_client_app(data)
    if engine == "local":  # every ClientApp in this process
        grid = LocalGrid(client_app, clients)
        server_app(grid, Context(run_id=1, node_id=0, node_config={}, state=RecordDict(), run_config={}))
    else:
        from flwr.simulation import run_simulation

        os.environ.setdefault("RAY_DEDUP_LOGS", "0")
        run_simulation(server_app=server_app, client_app=client_app, num_supernodes=clients,
                       backend_config={"client_resources": {"num_cpus": 1}, "init_args": {"include_dashboard": False}})
    return strategy.history


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default="synthetic", help="synthetic, ml-100k, or a path (default: synthetic)")
    ap.add_argument("--clients", type=int, default=30)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--engine", choices=["ray", "local"], default="ray")
    args = ap.parse_args(argv)
    history = run(args.data, args.clients, args.rounds, args.engine)
    return 0 if history else 1


if __name__ == "__main__":
    sys.exit(main())
