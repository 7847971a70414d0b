"""``SecAggPlusWorkflow``: Flower's fit workflow with this library's SecAgg+ underneath.

A drop-in for ``flwr.server.workflow.SecAggPlusWorkflow``: the same constructor arguments and
meaning, used as ``DefaultWorkflow(fit_workflow=SecAggPlusWorkflow(...))``, calling the strategy's
``configure_fit`` and ``aggregate_fit`` as Flower's does (every client whose input counted gives
its ``FitRes`` with the aggregated parameters; a round below the threshold is skipped without
``aggregate_fit``). Underneath run :class:`~secagg.protocol.server.SecAggServer` and its clients:
X25519/HKDF/AES-GCM key agreement and share encryption, AES-CTR masks from the native kernels,
bit-packed masked vectors. Extras: ``num_shares=None`` (the parameter finder chooses k and t),
``threat_model="active"`` (with the clients' registered Ed25519 keys), ``noise_variance`` (Skellam
noise per client inside the masking kernel, for distributed DP) and ``modulus_range=None`` (the
smallest safe modulus); a modulus the sum could overflow is refused.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from logging import ERROR, INFO
from typing import Any, cast

import flwr.compat.common.recorddict_compat as compat
import numpy as np
from flwr.app import ConfigRecord, Context, Message, RecordDict
from flwr.app.message_type import MessageType
from flwr.common import FitRes, ndarrays_to_parameters, parameters_to_ndarrays
from flwr.server.client_proxy import ClientProxy
from flwr.server.compat.legacy_context import LegacyContext
from flwr.server.workflow.constant import MAIN_CONFIGS_RECORD, MAIN_PARAMS_RECORD
from flwr.server.workflow.constant import Key as WorkflowKey
from flwr.serverapp.grid import Grid
from flwr.supercore import log

from ..errors import IncompatiblePeerError, SecAggError, ThresholdError, UnknownClientError
from ..protocol.config import INPUT_FLOAT, SessionConfig
from ..protocol.server import SecAggServer
from ..protocol.stage import Stage
from . import records
from .decode import decode_sum
from .options import Share, WorkflowOptions
from .vectors import vector_length, weighted_mean


@dataclass
class RoundReport:
    """What the last round did: the stage it stopped at (None: completed), the clients whose input
    counted, the failures, and the bytes each node sent per stage (protocol record only)."""

    sampled: list[int] = field(default_factory=list)
    included: list[int] = field(default_factory=list)
    stopped_at: str | None = None
    failures: list[BaseException] = field(default_factory=list)
    upload_bytes: dict[int, dict[str, int]] = field(default_factory=dict)
    config: SessionConfig | None = None


class SecAggPlusWorkflow:
    """The fit workflow of one Flower round, aggregating the clients' weighted updates securely.

    Arguments as in Flower (``num_shares`` and ``reconstruction_threshold`` int or fraction,
    ``max_weight``, ``clipping_range``, ``quantization_range``, ``modulus_range``, ``timeout``), plus
    ``num_shares=None`` with ``reconstruction_threshold=None`` (the finder chooses, sized for
    ``corrupt_fraction`` and ``dropout_fraction``), ``threat_model`` and ``identity_registry``
    (Flower node id -> Ed25519 public key, needed for ``"active"``), ``noise_variance`` (per client,
    in quantization steps). Checked here, before any round.
    """

    def __init__(self, num_shares: Share | None, reconstruction_threshold: Share | None, *,
                 max_weight: float = 1000.0, clipping_range: float = 8.0, quantization_range: int = 4194304,
                 modulus_range: int | None = 4294967296, timeout: float | None = None,
                 threat_model: str = "honest-but-curious", identity_registry: Mapping[int, bytes] | None = None,
                 corrupt_fraction: float = 0.05, dropout_fraction: float = 0.1,
                 noise_variance: float | None = None) -> None:
        self.options = WorkflowOptions(num_shares, reconstruction_threshold, max_weight=max_weight,
                                       clipping_range=clipping_range, quantization_range=quantization_range,
                                       modulus_range=modulus_range, timeout=timeout, threat_model=threat_model,
                                       corrupt_fraction=corrupt_fraction, dropout_fraction=dropout_fraction,
                                       noise_variance=noise_variance)
        self.identity_registry = dict(identity_registry or {})
        if threat_model == "active" and not self.identity_registry:
            raise UnknownClientError("threat_model='active' needs identity_registry: each Flower node id -> its "
                                     "registered Ed25519 public key")
        self.last_round = RoundReport()

    def __call__(self, grid: Grid, context: Context) -> None:
        """Run one round's fit: sample, run the protocol, hand the aggregate to the strategy."""
        if not isinstance(context, LegacyContext):
            raise TypeError(f"Expect a LegacyContext, but get {type(context).__name__}.")
        self.last_round = report = RoundReport()
        cfg = context.state.config_records[MAIN_CONFIGS_RECORD]
        current_round = cast(int, cfg[WorkflowKey.CURRENT_ROUND])
        parameters = compat.arrayrecord_to_parameters(context.state.array_records[MAIN_PARAMS_RECORD],
                                                      keep_input=True)
        chosen = context.strategy.configure_fit(current_round, parameters, context.client_manager)
        if not chosen:
            log(INFO, "configure_fit: no clients selected, cancel")
            return
        log(INFO, "configure_fit: strategy sampled %s clients (out of %s)", len(chosen),
            context.client_manager.num_available())
        fitins = {proxy.node_id: compat.fitins_to_recorddict(ins, True) for proxy, ins in chosen}
        proxies = {proxy.node_id: proxy for proxy, _ in chosen}
        nodes = sorted(fitins)
        report.sampled = nodes
        if len(nodes) < 2:
            log(ERROR, "The number of samples should be greater than 1.")
            report.stopped_at = Stage.ADVERTISE_KEYS.name
            return
        arrays = parameters_to_ndarrays(parameters)
        shapes = [tuple(a.shape) for a in arrays]
        session = self._session(nodes, shapes)
        report.config = session.config
        results = self._run(grid, session, fitins, str(current_round), report)
        if results is None:
            log(INFO, "Secure aggregation halted at stage %s: %s", report.stopped_at,
                report.failures[-1] if report.failures else "")
            return
        self._aggregate(context, current_round, session, results, proxies, arrays, report)

    # --- one round ---------------------------------------------------------------------------
    def _session(self, nodes: list[int], shapes: list[tuple[int, ...]]) -> _Session:
        o, n = self.options, len(nodes)
        params = o.parameters_for(n)
        config = SessionConfig(client_ids=tuple(range(n)), graph_kind=params.kind, degree=params.degree,
                               threshold=params.threshold, modulus_range=o.modulus_for(n),
                               vector_length=vector_length(shapes), clipping_range=o.clipping_range,
                               quantization_range=o.quantization_range, threat_model=o.threat_model,
                               input_kind=INPUT_FLOAT, max_dropouts=params.max_dropouts)
        registry = {}
        if config.active:
            missing = [node for node in nodes if node not in self.identity_registry]
            if missing:
                raise UnknownClientError(f"nodes {missing[:5]} have no registered identity key")
            registry = {cid: self.identity_registry[node] for cid, node in enumerate(nodes)}
        server = SecAggServer(config, identity_registry=registry)
        setup = records.pack_setup(nodes, shapes, o.max_weight, o.noise_variance)
        return _Session(config, server, nodes, setup)

    def _message(self, session: _Session, cid: int, payload: bytes, fitins: Mapping[int, RecordDict],
                 group_id: str) -> Message:
        stage = session.server.stage
        node = session.nodes[cid]
        fields: dict[str, Any] = {"wire": records.WIRE, "stage": stage.name, "request": payload}
        content = RecordDict()
        if stage is Stage.ADVERTISE_KEYS:
            fields.update(client_id=cid, setup=session.setup)
            content[records.FLOWER_RECORD] = ConfigRecord(records.flower_decoy())
        elif stage is Stage.MASKED_INPUT:
            content = fitins[node]
        content[records.RECORD] = ConfigRecord(fields)
        return Message(content=content, dst_node_id=node, message_type=MessageType.TRAIN, group_id=group_id)

    def _run(self, grid: Grid, session: _Session, fitins: Mapping[int, RecordDict], group_id: str,
             report: RoundReport) -> dict[int, FitRes] | None:
        """Drive the protocol to its end; the survivors' FitRes (None if the round stopped)."""
        server, cid_of = session.server, {node: cid for cid, node in enumerate(session.nodes)}
        results: dict[int, FitRes] = {}
        requests = server.start()
        while requests:
            stage = server.stage
            replies = grid.send_and_receive([self._message(session, cid, payload, fitins, group_id)
                                             for cid, payload in requests.items()], timeout=self.options.timeout)
            for reply in replies:
                node = reply.metadata.src_node_id
                if node not in cid_of:
                    continue
                try:
                    data = self._reply_bytes(reply, stage)
                    server.receive(cid_of[node], data)
                except IncompatiblePeerError:
                    raise
                except SecAggError as exc:
                    report.failures.append(exc)
                    continue
                report.upload_bytes.setdefault(node, {})[stage.name] = len(data)
                if stage is Stage.MASKED_INPUT:
                    results[node] = compat.recorddict_to_fitres(reply.content, keep_input=True)
            try:
                requests = server.advance()
            except ThresholdError as exc:
                report.failures.append(exc)
                report.stopped_at = stage.name
                self._tell(grid, session, server.abort(str(exc)), group_id, records_stage=records.ABORT)
                return None
        result = server.result
        assert result is not None
        report.included = [session.nodes[cid] for cid in sorted(result.included)]
        if session.config.active:  # active clients keep a masking key for a possible exclusion: release it
            self._tell(grid, session, {cid: b"" for cid in sorted(result.included)}, group_id, records_stage=records.END)
        return {node: results[node] for node in report.included}

    def _reply_bytes(self, reply: Message, stage: Stage) -> bytes:
        if reply.has_error():
            reason = str(reply.error.reason)
            if records.MARKER in reason and stage is Stage.ADVERTISE_KEYS:
                raise IncompatiblePeerError(f"node {reply.metadata.src_node_id} refused the round: {reason[:300]}")
            raise _Dropped(f"node {reply.metadata.src_node_id} failed at {stage.name}: {reason[:300]}")
        record = reply.content.config_records.get(records.RECORD)
        records.check_wire(record, f"node {reply.metadata.src_node_id}'s reply")
        data = record.get("reply")
        if type(data) is not bytes or record.get("stage") != stage.name:
            raise _Dropped(f"node {reply.metadata.src_node_id} sent no {stage.name} reply")
        return data

    def _tell(self, grid: Grid, session: _Session, messages: Mapping[int, bytes], group_id: str, *,
              records_stage: str) -> None:
        """Send the clients a last notice (abort, or end of round) so they drop the round's secrets."""
        if not messages:
            return
        out = []
        for cid, payload in messages.items():
            fields = {"wire": records.WIRE, "stage": records_stage, "request": payload}
            out.append(Message(content=RecordDict({records.RECORD: ConfigRecord(fields)}),
                               dst_node_id=session.nodes[cid], message_type=MessageType.TRAIN, group_id=group_id))
        grid.send_and_receive(out, timeout=self.options.timeout)

    def _aggregate(self, context: LegacyContext, current_round: int, session: _Session,
                   results: Mapping[int, FitRes], proxies: Mapping[int, ClientProxy], arrays: list[np.ndarray],
                   report: RoundReport) -> None:
        result, o = session.server.result, self.options
        assert result is not None
        total = decode_sum(result.quantized_sum, len(result.included), session.config, o.noise_variance)
        mean, _ = weighted_mean(total, len(result.included), clipping_range=o.clipping_range,
                                shapes=[tuple(a.shape) for a in arrays], dtypes=[a.dtype for a in arrays])
        aggregated = ndarrays_to_parameters(mean)
        legacy = []
        for node, fitres in results.items():
            fitres.parameters = aggregated
            legacy.append((proxies[node], fitres))
        log(INFO, "aggregate_fit: received %s results and %s failures", len(legacy), len(report.failures))
        parameters, metrics = context.strategy.aggregate_fit(current_round, legacy, list(report.failures))
        if parameters:
            context.state.array_records[MAIN_PARAMS_RECORD] = compat.parameters_to_arrayrecord(parameters, True)
            context.history.add_metrics_distributed_fit(server_round=current_round, metrics=metrics)


@dataclass
class _Session:
    config: SessionConfig
    server: SecAggServer
    nodes: list[int]
    setup: bytes


class _Dropped(SecAggError):
    """A node's reply is missing or an error: it counts as dropped at this stage."""

