"""secagg.flower on an in-process grid (no Ray): the weighted mean, dropouts at each stage, the
threshold, mixed pairs, Flower's k and t, the active model, noise, refusals and state hygiene."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("flwr", reason="secagg.flower needs the flower extra (pip install 'secagg[flower]')")

from flwr.client.mod import secaggplus_mod as flower_mod  # noqa: E402
from flwr.server.workflow import SecAggPlusWorkflow as FlowerWorkflow  # noqa: E402

from secagg.core.crypto import IdentityKey  # noqa: E402
from secagg.errors import ConfigError, IncompatiblePeerError, ModulusError, UnknownClientError  # noqa: E402
from secagg.flower import LocalGrid, SecAggPlusWorkflow, make_secaggplus_mod, secaggplus_mod  # noqa: E402
from secagg.flower.records import RECORD, STATE  # noqa: E402
from secagg.protocol.stage import Stage  # noqa: E402

from .apps import RecordingFedAvg, client_app, client_weight, expected_mean, run_rounds  # noqa: E402

N = 20


def quantization_bound(included, *, clipping_range=8.0, quantization_range=2**22, slack=1.0):
    """How far the securely aggregated weighted mean may be from the exact one: each client's
    stochastic rounding moves each element (and its weight) by less than one step."""
    step = 2 * clipping_range / (quantization_range - 1)
    weights = sum(client_weight(p) for p in included) / 1000.0
    n = len(included)
    return slack * (n * step + n * step / (2 * clipping_range)) / weights + 1e-6  # + float32 rounding


def assert_mean_of(strategy, partitions, **bound):
    assert len(strategy.calls) == 1
    _, results, _ = strategy.calls[0]
    assert len(results) == len(partitions)
    got = strategy.aggregated
    for a, b in zip(got, expected_mean(partitions)):
        assert np.abs(a - b).max() <= quantization_bound(partitions, **bound)


def stage_of(msg):
    record = msg.content.config_records.get(RECORD)
    return None if record is None else record.get("stage")


def test_the_strategy_gets_the_weighted_mean_within_the_quantization_bound():
    grid, strategy = LocalGrid(client_app(secaggplus_mod), N), RecordingFedAvg(N)
    workflow = SecAggPlusWorkflow(num_shares=7, reconstruction_threshold=4)
    run_rounds(grid, workflow, strategy, num_rounds=2)
    assert [c[0] for c in strategy.calls] == [1, 2]
    for _, results, failures in strategy.calls:
        assert len(results) == N and not failures
        assert sorted(res.num_examples for _, res in results) == sorted(client_weight(p) for p in range(N))
    for a, b in zip(strategy.aggregated, expected_mean(range(N))):
        assert np.abs(a - b).max() <= quantization_bound(range(N))
    assert all(STATE not in ctx.state.config_records for ctx in grid.contexts.values())
    assert workflow.last_round.config.graph_kind == "harary" and workflow.last_round.config.degree == 6


@pytest.mark.parametrize("stage", [Stage.ADVERTISE_KEYS, Stage.SHARE_KEYS, Stage.MASKED_INPUT, Stage.UNMASKING])
def test_dropouts_at_each_stage_leave_exactly_the_survivors(stage):
    victims = {3, 11}  # partition ids; LocalGrid's node ids are partition + 1
    grid = LocalGrid(client_app(secaggplus_mod), N,
                     drop=lambda node, msg: node - 1 in victims and stage_of(msg) == stage.name)
    strategy = RecordingFedAvg(N)
    workflow = SecAggPlusWorkflow(num_shares=7, reconstruction_threshold=3)
    run_rounds(grid, workflow, strategy)
    contributed = stage is Stage.UNMASKING  # they sent their masked input before vanishing
    survivors = [p for p in range(N) if contributed or p not in victims]
    assert workflow.last_round.included == [p + 1 for p in survivors]
    assert_mean_of(strategy, survivors)


def test_below_the_threshold_the_round_is_skipped_without_aggregate_fit():
    n = 6
    grid = LocalGrid(client_app(secaggplus_mod), n,
                     drop=lambda node, msg: node in (2, 5) and stage_of(msg) == Stage.SHARE_KEYS.name)
    strategy = RecordingFedAvg(n)
    workflow = SecAggPlusWorkflow(num_shares=1.0, reconstruction_threshold=5)
    run_rounds(grid, workflow, strategy)
    assert strategy.calls == []
    assert workflow.last_round.stopped_at == Stage.SHARE_KEYS.name
    # the clients still waiting were told the round is over: none of them keeps the round's secrets
    assert all(STATE not in ctx.state.config_records for node, ctx in grid.contexts.items()
               if node not in (2, 5))


def test_our_workflow_with_flowers_mod_fails_at_the_first_stage():
    grid, strategy = LocalGrid(client_app(flower_mod), 8), RecordingFedAvg(8)
    with pytest.raises(IncompatiblePeerError, match="secagg.flower.secaggplus_mod"):
        run_rounds(grid, SecAggPlusWorkflow(num_shares=5, reconstruction_threshold=3), strategy)
    assert strategy.calls == []


class RecordingGrid(LocalGrid):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.errors = []

    def _deliver(self, msg):
        reply = super()._deliver(msg)
        if reply is not None and reply.has_error():
            self.errors.append(reply.error.reason)
        return reply


def test_flowers_workflow_with_our_mod_fails_at_the_first_stage():
    grid, strategy = RecordingGrid(client_app(secaggplus_mod), 8), RecordingFedAvg(8)
    run_rounds(grid, FlowerWorkflow(num_shares=5, reconstruction_threshold=3), strategy)
    assert strategy.calls == []
    assert len(grid.errors) == 8  # every client refused the first (setup) message, and nothing followed
    assert all("IncompatiblePeerError" in e and "Flower's own SecAggPlusWorkflow" in e for e in grid.errors)


def test_a_plain_train_message_is_refused_so_the_update_never_leaves_in_the_clear():
    from flwr.server.workflow import DefaultWorkflow  # noqa: F401  (the default fit workflow)

    grid, strategy = RecordingGrid(client_app(secaggplus_mod), 4), RecordingFedAvg(4)
    run_rounds(grid, None, strategy)
    assert grid.errors and all("without a secagg.flower record" in e for e in grid.errors)
    assert all(not results for _, results, _ in strategy.calls)


def _flower_shares_after_setup(n, num_shares, threshold):
    """Flower's own (shares, threshold, group size) for n sampled clients, from its setup stage."""
    from flwr.app import ConfigRecord
    from flwr.compat.common import recorddict_compat as compat
    from flwr.server.compat.grid_client_proxy import GridClientProxy
    from flwr.server.workflow.secure_aggregation.secaggplus_workflow import WorkflowState

    from .apps import Context as FlwrContext
    from .apps import LegacyContext, RecordDict, ServerConfig

    grid, strategy = LocalGrid(client_app(flower_mod), n), RecordingFedAvg(n)
    ctx = LegacyContext(FlwrContext(run_id=1, node_id=0, node_config={}, state=RecordDict(), run_config={}),
                        config=ServerConfig(num_rounds=1), strategy=strategy)
    for node in grid.get_node_ids():
        ctx.client_manager.register(GridClientProxy(node_id=node, grid=grid, run_id=1))
    ctx.state.config_records["config"] = ConfigRecord({"current_round": 1})
    ctx.state.array_records["parameters"] = compat.parameters_to_arrayrecord(strategy.initial_parameters, True)
    state = WorkflowState()
    FlowerWorkflow(num_shares=num_shares, reconstruction_threshold=threshold).setup_stage(grid, ctx, state)
    groups = {len(g) for g in state.nid_to_neighbours.values()}
    assert len(groups) == 1
    return state.num_shares, state.threshold, groups.pop()


@pytest.mark.parametrize("n", [5, 12, 20, 33])
@pytest.mark.parametrize("num_shares,threshold", [(3, 2), (5, 3), (7, 4), (9, 0.5), (1, 0.6), (1.0, 3),
                                                  (0.5, 0.5), (0.3, 0.7), (0.2, 2), (50, 0.6), (6, 3)])
def test_k_and_t_are_flowers_for_int_and_fraction_inputs(n, num_shares, threshold):
    from secagg.flower.options import WorkflowOptions, flower_shares

    shares, t, group = _flower_shares_after_setup(n, num_shares, threshold)
    options = WorkflowOptions(num_shares, threshold)
    assert flower_shares(n, options.num_shares, options.reconstruction_threshold) == (shares, t)
    if t > group:  # Flower would start this round and fail it later; this library refuses it up front
        with pytest.raises(ConfigError, match="exceeds"):
            options.parameters_for(n)
        return
    params = options.parameters_for(n)
    assert (params.degree + 1, params.threshold) == (group, t)
    assert params.kind == ("complete" if group == n else "harary")


def test_num_shares_none_lets_the_finder_choose_k_and_t():
    from secagg.protocol.params import find_parameters

    grid, strategy = LocalGrid(client_app(secaggplus_mod), N), RecordingFedAvg(N)
    workflow = SecAggPlusWorkflow(num_shares=None, reconstruction_threshold=None)
    run_rounds(grid, workflow, strategy)
    cfg, chosen = workflow.last_round.config, find_parameters(N)
    assert (cfg.graph_kind, cfg.degree, cfg.threshold) == (chosen.kind, chosen.degree, chosen.threshold)
    assert_mean_of(strategy, list(range(N)))


def test_the_active_threat_model_runs_with_registered_identity_keys():
    n = 12
    keys = {node: IdentityKey() for node in range(1, n + 1)}
    registry = {node: key.public for node, key in keys.items()}
    grid = LocalGrid(client_app(make_secaggplus_mod(identity=keys, identity_registry=registry)), n)
    strategy = RecordingFedAvg(n)
    workflow = SecAggPlusWorkflow(num_shares=None, reconstruction_threshold=None, threat_model="active",
                                  identity_registry=registry)
    run_rounds(grid, workflow, strategy)
    assert workflow.last_round.config.active
    assert_mean_of(strategy, list(range(n)))
    assert all(STATE not in ctx.state.config_records for ctx in grid.contexts.values())
    with pytest.raises(UnknownClientError, match="identity_registry"):
        SecAggPlusWorkflow(num_shares=None, reconstruction_threshold=None, threat_model="active")


def test_skellam_noise_is_added_inside_the_masking_and_the_mean_stays_close():
    variance = 400.0
    grid, strategy = LocalGrid(client_app(secaggplus_mod), N), RecordingFedAvg(N)
    workflow = SecAggPlusWorkflow(num_shares=7, reconstruction_threshold=4, noise_variance=variance)
    run_rounds(grid, workflow, strategy)
    step = 16 / (2**22 - 1)
    weights = sum(client_weight(p) for p in range(N)) / 1000.0
    sd = np.sqrt(N * variance) * step / weights  # the noise of the sum, seen in the mean
    errors = np.concatenate([(a - b).ravel() for a, b in zip(strategy.aggregated, expected_mean(range(N)))])
    assert np.abs(errors).max() <= 8 * sd + quantization_bound(range(N))
    assert np.abs(errors).max() > quantization_bound(range(N))  # the noise is really there


def test_a_modulus_the_sum_could_overflow_is_refused_before_any_message():
    grid, strategy = LocalGrid(client_app(secaggplus_mod), N), RecordingFedAvg(N)
    workflow = SecAggPlusWorkflow(num_shares=7, reconstruction_threshold=4, quantization_range=2**30,
                                  modulus_range=2**32)
    with pytest.raises(ModulusError, match="overflow"):
        run_rounds(grid, workflow, strategy)
    assert all(not sent for sent in grid.reply_bytes.values())


@pytest.mark.parametrize("kwargs,match", [
    ({"num_shares": 2, "reconstruction_threshold": 1}, "greater than 2"),
    ({"num_shares": 5, "reconstruction_threshold": 5}, "less than num_shares"),
    ({"num_shares": 5, "reconstruction_threshold": 1.5}, "in \\(0, 1\\]"),
    ({"num_shares": 5, "reconstruction_threshold": 3, "modulus_range": 3 * 2**20}, "power of two"),
    ({"num_shares": 5, "reconstruction_threshold": 3, "quantization_range": 2**32}, "greater than quantization"),
    ({"num_shares": None, "reconstruction_threshold": 0.5}, "finder chooses"),
    ({"num_shares": 5, "reconstruction_threshold": 3, "threat_model": "activ"}, "active"),
])
def test_bad_options_are_refused_when_the_workflow_is_built(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        SecAggPlusWorkflow(**kwargs)


def test_a_weight_above_max_weight_is_refused_by_the_client():
    grid, strategy = RecordingGrid(client_app(secaggplus_mod), 6), RecordingFedAvg(6)
    run_rounds(grid, SecAggPlusWorkflow(num_shares=1.0, reconstruction_threshold=2, max_weight=20.0), strategy)
    # weights 10 + 3 p: partitions 4 and 5 exceed 20 and refuse; the other four are aggregated
    assert sum("exceeds max_weight" in e for e in grid.errors) == 2
    assert_mean_of(strategy, [0, 1, 2, 3])
