"""A tiny Flower app for the secagg.flower tests: every client returns known arrays and weight.

Client ``i`` (its partition id) returns arrays of :data:`SHAPES` drawn from a seeded generator and
``num_examples = 10 + 3 i``; :func:`expected_mean` is the strategy's weighted mean over any
subset. :class:`RecordingFedAvg` remembers every ``aggregate_fit`` call.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
from flwr.app import Context, RecordDict
from flwr.client import NumPyClient
from flwr.clientapp import ClientApp
from flwr.common import ndarrays_to_parameters, parameters_to_ndarrays
from flwr.server import ServerConfig
from flwr.server.compat.legacy_context import LegacyContext
from flwr.server.strategy import FedAvg
from flwr.server.workflow import DefaultWorkflow

SHAPES = [(3, 4), (5,)]


def client_arrays(partition: int) -> list[np.ndarray]:
    rng = np.random.default_rng(1000 + partition)
    return [rng.uniform(-1, 1, s).astype(np.float32) for s in SHAPES]


def client_weight(partition: int) -> int:
    return 10 + 3 * partition


def expected_mean(partitions: Iterable[int]) -> list[np.ndarray]:
    parts = list(partitions)
    total = sum(client_weight(p) for p in parts)
    return [sum(client_weight(p) * client_arrays(p)[i].astype(np.float64) for p in parts) / total
            for i in range(len(SHAPES))]


class _Client(NumPyClient):
    def __init__(self, partition: int) -> None:
        self.partition = partition

    def fit(self, parameters, config):
        return client_arrays(self.partition), client_weight(self.partition), {"p": self.partition}


def client_app(mod) -> ClientApp:
    def client_fn(context: Context):
        return _Client(int(context.node_config["partition-id"])).to_client()

    return ClientApp(client_fn=client_fn, mods=[mod])


class RecordingFedAvg(FedAvg):
    """FedAvg over all available clients that records what ``aggregate_fit`` received."""

    def __init__(self, n: int) -> None:
        super().__init__(fraction_fit=1.0, fraction_evaluate=0.0, min_fit_clients=n, min_available_clients=n,
                         initial_parameters=ndarrays_to_parameters([np.zeros(s, np.float32) for s in SHAPES]))
        self.calls: list[tuple[int, list, list]] = []
        self.aggregated: list[np.ndarray] | None = None

    def aggregate_fit(self, server_round, results, failures):
        self.calls.append((server_round, list(results), list(failures)))
        parameters, metrics = super().aggregate_fit(server_round, results, failures)
        self.aggregated = None if parameters is None else parameters_to_ndarrays(parameters)
        return parameters, metrics


def run_rounds(grid, workflow, strategy, num_rounds: int = 1) -> LegacyContext:
    """Drive ``DefaultWorkflow(fit_workflow=workflow)`` on ``grid`` as a ServerApp would."""
    context = LegacyContext(Context(run_id=1, node_id=0, node_config={}, state=RecordDict(), run_config={}),
                            config=ServerConfig(num_rounds=num_rounds), strategy=strategy)
    DefaultWorkflow(fit_workflow=workflow)(grid, context)
    return context
