"""secagg.flower under Flower's own Simulation Engine (Ray): one ``run_simulation``, 20 clients.

The ServerApp runs one round with this library's workflow and then one round with Flower's, on the
same ClientApp (its mod hands each message to the matching SecAgg+ mod: this library's for
secagg.flower records, Flower's otherwise). Both give the strategy's weighted mean within their
quantization bounds. Ray's actors pick up the clients' stages in any order, so the clients' state
crosses processes between stages. One simulation per module: Ray's start-up is slow.
"""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("flwr", reason="secagg.flower needs the flower extra (pip install 'secagg[flower]')")
pytest.importorskip("ray", reason="Flower's simulation engine needs ray (pip install 'flwr[simulation]')")

from flwr.client.mod import secaggplus_mod as flower_mod  # noqa: E402
from flwr.server.workflow import SecAggPlusWorkflow as FlowerWorkflow  # noqa: E402
from flwr.serverapp import ServerApp  # noqa: E402
from flwr.simulation import run_simulation  # noqa: E402

from secagg.flower import SecAggPlusWorkflow, secaggplus_mod  # noqa: E402
from secagg.flower.records import RECORD  # noqa: E402

from .apps import (  # noqa: E402
    LegacyContext,
    RecordingFedAvg,
    ServerConfig,
    client_app,
    expected_mean,
)
from .test_workflow_local import quantization_bound  # noqa: E402

N = 20


def either_mod(msg, ctxt, call_next):
    """This library's mod for its own records, Flower's for everything else."""
    chosen = secaggplus_mod if RECORD in msg.content.config_records else flower_mod
    return chosen(msg, ctxt, call_next)


@pytest.fixture(scope="module")
def strategies(ray_instance):  # the test run's Ray instance, started where workers import the installed package
    ours, flowers = RecordingFedAvg(N), RecordingFedAvg(N)
    app = ServerApp()

    @app.main()
    def main(grid, context):
        from flwr.server.workflow import DefaultWorkflow

        for strategy, workflow in ((ours, SecAggPlusWorkflow(num_shares=7, reconstruction_threshold=4)),
                                   (flowers, FlowerWorkflow(num_shares=7, reconstruction_threshold=4))):
            legacy = LegacyContext(context=context, config=ServerConfig(num_rounds=1), strategy=strategy)
            DefaultWorkflow(fit_workflow=workflow)(grid, legacy)

    run_simulation(server_app=app, client_app=client_app(either_mod), num_supernodes=N,
                   backend_config={"client_resources": {"num_cpus": 1},
                                   "init_args": {"num_cpus": 2, "include_dashboard": False}})
    return ours, flowers


def test_run_simulation_with_the_secagg_flower_pair_gives_the_weighted_mean(strategies):
    ours, _ = strategies
    assert len(ours.calls) == 1 and len(ours.calls[0][1]) == N and not ours.calls[0][2]
    for a, b in zip(ours.aggregated, expected_mean(range(N))):
        assert np.abs(a - b).max() <= quantization_bound(range(N))


def test_the_same_app_with_flowers_own_pair_gives_the_same_mean(strategies):
    ours, flowers = strategies
    assert len(flowers.calls) == 1 and len(flowers.calls[0][1]) == N
    for a, b, c in zip(flowers.aggregated, expected_mean(range(N)), ours.aggregated):
        # Flower quantizes to [0, Q) with steps of 2c / Q and its weight to steps of 1 / Q: the same bound
        assert np.abs(a - b).max() <= quantization_bound(range(N), slack=2.0)
        assert np.abs(a - c).max() <= quantization_bound(range(N), slack=3.0)
