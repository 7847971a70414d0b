"""The server's round logic, independent of gRPC: registry, task queue, rounds, versions.

One coordinator thread runs rounds (:meth:`Coordinator.run`); RPC threads call
:meth:`register`, :meth:`get_task`, :meth:`submit` and :meth:`model`. Everything shared is guarded
by one condition variable. A round: wait for ``min_clients`` online clients, sample, open a
SecAgg(+) session over them, hand each stage's requests out as tasks, close each stage when every
expected client replied, its deadline passed, or every client still owing a reply has gone silent;
then de-quantize the sum, take the optimiser step and record round + new version atomically.

Each client process is known by the instance token of its registration
(:mod:`secagg.net.instances`): duplicates are fenced off and a restarted client is held out of
the session it had joined. Once the run's rounds are done, every poll is answered with an END
task, so clients learn that training has ended.
"""

from __future__ import annotations

import os
import random
import threading
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from ..aggregators.base import AggregationResult
from ..core.quantize import dequantize
from ..errors import AbortedError, ConfigError, ReplayError, SecAggError, UnknownClientError
from ..protocol.config import (
    INPUT_FLOAT,
    INPUT_QUANTIZED,
    SessionConfig,
    default_modulus,
)
from ..protocol.params import find_parameters
from ..protocol.server import SecAggServer
from ..protocol.server.server import ServerState
from ..protocol.stage import Stage
from ..rec.model import ItemModel
from ..rec.optim import make_optimizer
from ..rec.server import RecServer
from . import logs
from .instances import Instances
from .model_io import ModelVersion, pack_arrays, unpack_arrays
from .proto import secagg_net_pb2 as pb
from .server_authority import ServerAuthority
from .settings import ServerSettings
from .stage_tasks import SharedTask, StageTask
from .store import RoundRecord, Store


class Coordinator:
    def __init__(self, settings: ServerSettings, store: Store, logger: Any, *,
                 enroll_token: bytes | None = None, authority: ServerAuthority | None = None) -> None:
        """``authority``: the enrolment authority's pinned roots and CRL file; with it only clients
        holding a valid certificate may register or be sampled."""
        self.settings = settings
        self.store = store
        self.logger = logger
        self.enroll_token = enroll_token
        self.authority = authority
        # One lock, two wait queues: RPC threads long-polling for tasks wait on ``cond`` and are
        # woken only when tasks change; the round thread waits on ``progress`` (replies, clients).
        lock = threading.RLock()
        self.cond = threading.Condition(lock)
        self.progress = threading.Condition(lock)
        self.stop_event = threading.Event()
        self.rng = random.SystemRandom()
        self.keys = store.client_keys()
        self.certificates = store.client_certificates()
        self.revocation_lists = b""  # the CRLs relayed in this round's first task
        self.last_seen: dict[int, float] = {}
        self.tasks: dict[int, StageTask] = {}
        self.streaming: dict[int, int] = {}  # client id -> its open task streams
        self.working: set[int] = set()  # clients that took the open stage's task
        self.session: SecAggServer | None = None
        self.error: Exception | None = None
        self.run_id = ""
        self.round = store.last_round()
        self.instances = Instances()
        self.listeners: list[Callable[[], None]] = []
        self.ended: str | None = None  # why the run ended (then every poll gets an END task)
        self.told_end: set[int] = set()
        self.completed_here = 0  # rounds completed by this process
        self.aborted_streak = 0
        self.last_abort_reason = ""
        self._init_dp()  # first: a refused DP plan leaves the database untouched
        self._load_model()

    # --- model -------------------------------------------------------------------------------
    def _load_model(self) -> None:
        s = self.settings
        latest = self.store.latest_version()
        optimizer = make_optimizer(s.server_optimizer, server_lr=s.server_lr)
        if latest is None:
            model = ItemModel.initial(s.n_items, s.factors,
                                      np.random.Generator(np.random.PCG64(s.seed)), s.init_scale)
            mv = ModelVersion.of(1, 0, model)
            self.store.publish_initial(mv, pack_arrays(optimizer.state_dict()))
            logs.log(self.logger, "model_initialised", version=1, hash=mv.hash)
        else:
            mv, opt = latest
            if (mv.n_items, mv.factors) != (s.n_items, s.factors):
                raise ConfigError(f"the database holds a model of {mv.n_items} items x {mv.factors} "
                                  f"factors; this server was started with {s.n_items} x {s.factors}")
            optimizer.load_state_dict(unpack_arrays(opt))
            logs.log(self.logger, "resumed", version=mv.version, last_round=self.round, hash=mv.hash)
        self.current = mv
        self.rec = RecServer(mv.to_model(), optimizer)

    def _init_dp(self) -> None:
        """The DP plan, and the ledger rebuilt from the spending recorded so far."""
        self.dp_plan = None
        self.ledger = None
        self.dp_round_seed = b""
        self.dp_population = 0
        dp = self.settings.dp
        if dp is None:
            return
        from ..dp.accounting import PrivacyLedger
        from ..errors import PrivacyError
        from .dp import replay_ledger

        plan = dp.plan(self.settings.vector_length, "offset")
        stored = self.store.get_meta("dp_plan")
        if stored is None and self.store.last_round() > 0:
            raise PrivacyError(f"{self.store.path}: the database holds {self.store.last_round()} rounds "
                               "but no DP plan (run without DP or by an older version); start a new run")
        if stored is not None:
            plan.check_resumes(stored)
        ledger = PrivacyLedger(dp.target_delta, dp.accountant)
        replay_ledger(plan, ledger, self.store.privacy())
        if stored is None:
            self.store.set_meta("dp_plan", plan.stored())
        self.dp_plan, self.ledger = plan, ledger
        logs.log(self.logger, "dp_plan", noise_multiplier=plan.params.noise_multiplier,
                 sampling=dp.sampling, planned_epsilon_release=plan.planned_epsilon, delta=dp.target_delta,
                 epsilon_release=ledger.epsilon_release(), epsilon_server=ledger.epsilon_server(),
                 rounds_charged=ledger.rounds)

    def model(self, version: int) -> ModelVersion:
        if version == 0 or version == self.current.version:
            return self.current
        return self.store.version(version)[0]

    # --- registry ----------------------------------------------------------------------------
    def register(self, public_key: bytes, token: bytes, model_shape: tuple[int, int] = (0, 0),
                 policy: tuple[bool, float] = (False, 0.0), certificate: bytes = b"") -> tuple[int, bytes]:
        """(client id, instance token) for a client process that starts. ``model_shape`` (items,
        factors) and ``policy`` (requires active sessions?, assumed corrupt fraction) are what it
        is configured for: a client that cannot train this model or would refuse this server's
        sessions is refused (ConfigError) before anything is recorded. Raises
        :class:`UnknownClientError` for a wrong token and :class:`CertificateError` for a missing
        or invalid certificate when the server trusts an enrolment authority."""
        import hmac

        if self.enroll_token is not None and not hmac.compare_digest(token, self.enroll_token):
            raise UnknownClientError("wrong enrolment token")
        self.check_model_shape(model_shape)
        self.check_client_policy(*policy)
        if self.authority is not None:
            self.authority.check(certificate, public_key)
        cid, new = self.store.register(public_key)
        if certificate:  # relayed to peers, who verify it themselves
            self.store.save_certificate(cid, certificate)
        with self.cond:
            if certificate:
                self.certificates[cid] = certificate
            self.keys[cid] = public_key
            instance, replaced = self.instances.register(cid)
            self.last_seen[cid] = time.monotonic()
            self.progress.notify_all()
            if replaced:  # the replaced process's waiting poll or stream is refused now
                self._tasks_changed()
        if new:
            logs.log(self.logger, "client_registered", client_id=cid)
        elif replaced:
            logs.log(self.logger, "client_reregistered", client_id=cid)
        return cid, instance

    def check_model_shape(self, shape: tuple[int, int]) -> None:
        s = self.settings
        if tuple(shape) != (s.n_items, s.factors):
            raise ConfigError(f"this server trains a model of {s.n_items} items x {s.factors} factors; "
                              f"the client is configured for {shape[0]} x {shape[1]}: start it with "
                              f"the server's data set and --factors {s.factors}")

    def check_client_policy(self, require_active: bool, corrupt_fraction: float) -> None:
        """Refuse a client whose policy would refuse every session of this server: it would be
        sampled and stall rounds. Conservative rule: an active server's thresholds are sized for
        its ``corrupt_fraction``; a client assuming more colluders may refuse them."""
        s = self.settings
        if s.threat_model != "active":
            if require_active:
                raise ConfigError("this server runs honest-but-curious sessions, which this client "
                                  "refuses: start the client with --accept-honest-but-curious, or the "
                                  "server with --threat-model active")
            return
        if corrupt_fraction > s.corrupt_fraction + 1e-12:
            raise ConfigError(f"this server sizes its thresholds for {s.corrupt_fraction:g} of the clients "
                              f"colluding; this client assumes {corrupt_fraction:g} and would refuse its "
                              f"sessions: start the client with --corrupt-fraction {s.corrupt_fraction:g} "
                              f"or less, or the server with --corrupt-fraction {corrupt_fraction:g}")

    def check_instance(self, client_id: int, instance: bytes) -> None:
        """Refuse requests of a process that is not ``client_id``'s current one."""
        with self.cond:
            try:
                self.instances.check(client_id, instance)
            except SecAggError as exc:
                if client_id in self.instances.current:
                    logs.log(self.logger, "duplicate_identity", 30, client_id=client_id,
                             reason=str(exc)[:200])
                raise

    def public_key(self, client_id: int) -> bytes | None:
        with self.cond:
            return self.keys.get(client_id)

    def touch(self, client_id: int) -> None:
        with self.cond:
            self.last_seen[client_id] = time.monotonic()

    def online(self) -> list[int]:
        """Clients seen within the liveness window or holding an open task stream."""
        now = time.monotonic()
        return sorted(c for c, t in self.last_seen.items()
                      if now - t <= self.settings.liveness_timeout or c in self.streaming)

    # --- tasks (RPC threads) --------------------------------------------------------------------
    def poll_task(self, client_id: int, have_session: bytes, have_stage: int,
                  instance: bytes = b"") -> Any | None:
        """The task for ``client_id`` now - its stage task, END once the run ended, WAIT while
        the server stops - or None (never waits; :meth:`get_task` and the asyncio server wait)."""
        with self.cond:
            task = self._take(client_id, have_session, have_stage, instance)
        return task.message() if isinstance(task, StageTask) else task

    def poll_streams(self, polls: list[tuple[int, bytes, int, bytes]]) -> list[Any]:
        """:meth:`poll_task` for many (client id, have session, have stage, instance) at once,
        under one lock, for the streams: each result is a :class:`StageTask`, an END or WAIT
        task, None (nothing new) or the :class:`SecAggError` that refuses that client."""
        out: list[Any] = []
        with self.cond:
            for poll in polls:
                try:
                    out.append(self._take(*poll))
                except SecAggError as exc:
                    out.append(exc)
        return out

    def _take(self, client_id: int, have_session: bytes, have_stage: int, instance: bytes) -> Any:
        """:meth:`poll_task`'s answer, with a stage task as its :class:`StageTask` (holding ``cond``)."""
        self.check_instance(client_id, instance)  # a newer process may have registered
        self.last_seen[client_id] = time.monotonic()
        if self.ended is not None:
            self.told_end.add(client_id)
            return pb.Task(kind=pb.Task.END, end_reason=self.ended,
                           rounds_completed=self.store.completed_rounds())
        task = self.tasks.get(client_id)
        if task is not None and not self.instances.may_take(client_id, instance):
            if client_id not in self.instances.held_out:
                self.instances.held_out.add(client_id)
                logs.log(self.logger, "client_held_out", 30, client_id=client_id,
                         round=task.round, reason="restarted after advertising its keys in "
                         "this session; it rejoins at the next round")
            task = None
        if task is not None and (task.session_id != have_session or task.stage > have_stage):
            self.working.add(client_id)
            return task
        if self.stop_event.is_set():
            return pb.Task(kind=pb.Task.WAIT, retry_after_ms=500)
        return None

    def stream_opened(self, client_id: int) -> None:
        """``client_id`` holds a task stream: it counts as online while the stream is open."""
        with self.cond:
            self.streaming[client_id] = self.streaming.get(client_id, 0) + 1
            self.last_seen[client_id] = time.monotonic()
            self.progress.notify_all()

    def stream_closed(self, client_id: int) -> None:
        """Its stream ended: from now on it is online for the liveness window, as after a poll."""
        with self.cond:
            left = self.streaming.get(client_id, 0) - 1
            if left > 0:
                self.streaming[client_id] = left
            else:
                self.streaming.pop(client_id, None)
            self.last_seen[client_id] = time.monotonic()

    def get_task(self, client_id: int, have_session: bytes, have_stage: int, wait: float,
                 instance: bytes = b"") -> Any:
        """Long poll (on the calling thread): :meth:`poll_task`, waiting up to ``wait`` seconds."""
        deadline = time.monotonic() + max(0.0, min(wait, 30.0))
        with self.cond:
            while True:
                task = self.poll_task(client_id, have_session, have_stage, instance)
                if task is not None:
                    return task
                left = deadline - time.monotonic()
                if left <= 0:
                    return pb.Task(kind=pb.Task.WAIT)
                self.cond.wait(left)

    def add_listener(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` (from any thread, with the lock held: it must not block) whenever
        the tasks change - how the asyncio server learns to re-poll its waiting clients."""
        self.listeners.append(callback)

    def _tasks_changed(self) -> None:
        self.cond.notify_all()
        for callback in self.listeners:
            callback()

    def submit(self, client_id: int, round_: int, stage: int, session_id: bytes, reply: bytes,
               instance: bytes = b"") -> None:
        with self.cond:
            self.check_instance(client_id, instance)
            self.last_seen[client_id] = time.monotonic()
            session = self.session
            if session is None or session.state is not ServerState.COLLECTING:
                raise ReplayError("no round is collecting replies now")
            if session_id != session.config.session_id or round_ != self.round + 1:
                raise ReplayError(f"the reply is for another round (current round {self.round + 1})")
            if stage != int(session.stage):
                raise ReplayError(f"the reply is for stage {stage}; the current stage is "
                                  f"{int(session.stage)} ({session.stage.name})")
            try:
                advertising = session.stage is Stage.ADVERTISE_KEYS
                self.instances.check_session(client_id, instance, advertising)
                session.receive(client_id, reply)
                if advertising:
                    self.instances.joined(client_id, instance)
            except SecAggError as exc:
                logs.log(self.logger, "reply_rejected", 30, round=round_, stage=session.stage.name,
                         client_id=client_id, error=type(exc).__name__, reason=str(exc)[:200])
                self.progress.notify_all()
                raise
            self.progress.notify_all()

    # --- rounds (coordinator thread) ---------------------------------------------------------------
    def run(self, rounds: int | None = None) -> None:
        """Run rounds until ``rounds`` rounds are *completed* in total (aborted rounds do not count;
        None: until stopped), or ``max_aborted_rounds`` abort in a row. An unexpected failure (e.g.
        the database) is logged and kept in :attr:`error`. When the run ends (not when it is
        merely stopped) :attr:`ended` says why and clients are told so."""
        try:
            while not self.stop_event.is_set():
                done = self.store.completed_rounds()
                if rounds is not None and done >= rounds:
                    self._end(f"the run completed its {rounds} rounds")
                    return
                if self.aborted_streak >= self.settings.max_aborted_rounds:
                    self.error = AbortedError(
                        f"{self.aborted_streak} rounds in a row aborted (the last: "
                        f"{self.last_abort_reason}); {done} rounds completed in total")
                    self._end(f"the server gave up: {self.error}")
                    return
                sampled = self._wait_for_clients()
                if sampled is None:
                    return
                record = self.run_round(sampled)
                if record is not None and record.status == "completed":
                    self.completed_here += 1
                    self.aborted_streak = 0
                elif record is not None:
                    self.aborted_streak += 1
                    self.last_abort_reason = (record.abort_reason or "")[:200]
        except Exception as exc:  # noqa: BLE001 - reported, then the server exits non-zero
            self.error = exc
            logs.log(self.logger, "round_loop_failed", 50, round=self.round + 1,
                     error=type(exc).__name__, reason=str(exc)[:300])
        finally:
            with self.cond:
                self.tasks = {}
                self._tasks_changed()

    def _end(self, reason: str) -> None:
        with self.cond:
            self.ended = reason
            self.tasks = {}
            self._tasks_changed()
        logs.log(self.logger, "run_ended", reason=reason, rounds_completed=self.store.completed_rounds())

    def clients_not_told(self) -> set[int]:
        """Clients online now that have not yet been told that the run ended."""
        with self.cond:
            return set(self.online()) - self.told_end

    def stop(self) -> None:
        self.stop_event.set()
        with self.cond:
            self._tasks_changed()
            self.progress.notify_all()

    def _wait_for_clients(self) -> list[int] | None:
        s = self.settings
        with self.cond:
            while not self.stop_event.is_set():
                online = self.online()
                if self.authority is not None:  # skip clients whose certificate expired or was revoked
                    online = self.authority.eligible(online, self.keys, self.certificates)
                if len(online) >= s.min_clients:
                    if self.dp_plan is None:
                        return sorted(self.rng.sample(online, min(s.clients_per_round, len(online))))
                    cohort = self._dp_cohort(online)
                    if cohort is not None:
                        return cohort
                self.progress.wait(0.2)
        return None

    def _dp_cohort(self, online: list[int]) -> list[int] | None:
        """The cohort the DP accountant analyses, or None (nothing used) if the draw is too small
        for secure aggregation or too large for the integer layout."""
        from .dp import draw_cohort

        assert self.dp_plan is not None
        cohort = draw_cohort(self.dp_plan, online, self.rng)
        cap = self.dp_plan.config.cohort_cap
        if self.settings.min_clients <= len(cohort) <= cap:
            self.dp_population = len(online)
            return cohort
        logs.log(self.logger, "dp_cohort_redrawn", 30, drawn=len(cohort), online=len(online),
                 min_clients=self.settings.min_clients, cap=cap)
        return None

    def _shared_task(self, stage: Stage, sampled: list[int]) -> SharedTask | None:
        """What every client's task of ``stage`` carries alike, built once per stage: the
        round's first task's model, training settings, peer list, CRLs and DP plan."""
        if stage is not Stage.ADVERTISE_KEYS:
            return None
        t = self.settings.training
        task = pb.Task(model_version=self.current.version, model_hash=self.current.hash,
                       training=pb.TrainingSpec(epochs=t.epochs, lr=t.lr, reg=t.reg,
                                                batch_size=t.batch_size, negatives=t.negatives,
                                                clip_norm=t.clip_norm),
                       peers=[pb.Peer(client_id=c, public_key=self.keys[c],
                                      certificate=self.certificates.get(c, b"")) for c in sampled],
                       revocation_lists=self.revocation_lists)
        if self.dp_plan is not None:
            from .dp import params_to_wire

            task.dp_params = params_to_wire(self.dp_plan.params)
            task.dp_round_seed = self.dp_round_seed
        return SharedTask(task)

    def _open_stage(self, requests: dict[int, bytes], round_: int, sampled: list[int]) -> None:
        """Publish one stage's requests as tasks and set its deadline (holding ``cond``)."""
        session = self.session
        assert session is not None
        stage = session.stage
        timeout = self.settings.stage_deadline(stage is Stage.ADVERTISE_KEYS, len(session.expected))
        session.deadline = session.clock() + timeout
        sid = session.config.session_id
        shared = self._shared_task(stage, sampled)
        self.tasks = {cid: StageTask(pb.Task(kind=pb.Task.STAGE, round=round_, stage=int(stage),
                                             session_id=sid, request=req), shared)
                      for cid, req in requests.items()}
        self.working = set()
        self.stage_opened = time.monotonic()
        self.stage_deadline_s = timeout
        self._tasks_changed()

    def _stage_done(self) -> bool:
        session = self.session
        assert session is not None
        replaced = self.instances.replaced()
        if (len(session.replied) + len(session.rejected) + len(replaced) < len(session.expected)
                and time.monotonic() - self.stage_opened < self.settings.liveness_timeout
                and session.clock() <= session.deadline):
            return False  # O(1) on the usual wake-up (a reply came, others still owe theirs)
        if session.ready():
            return True
        owing = session.expected - session.replied - set(session.rejected) - replaced
        if not owing:
            return True
        now = time.monotonic()
        live = self.settings.liveness_timeout
        if now - self.stage_opened < live:
            return False
        working = self.settings.working_silence(len(session.expected))  # took the task: computing
        return all(now - self.last_seen.get(c, 0.0) > (working if c in self.working else live)
                   for c in owing)

    def _config(self, sampled: list[int]) -> SessionConfig:
        s = self.settings
        n = len(sampled)
        graph = find_parameters(n, corrupt_fraction=s.corrupt_fraction,
                                dropout_fraction=s.dropout_fraction, threat_model=s.threat_model,
                                complete=s.protocol == "secagg")
        if self.dp_plan is not None:  # integers in [0, 2K] from the Skellam mechanism
            p = self.dp_plan.params
            self.dp_round_seed = os.urandom(32)  # public: the round's rotation
            return SessionConfig(client_ids=tuple(sampled), graph_kind=graph.kind,
                                 degree=graph.degree, threshold=graph.threshold,
                                 modulus_range=p.modulus, vector_length=p.padded_dim,
                                 clipping_range=float(s.training.clip_norm),
                                 quantization_range=2 * p.offset + 1,
                                 threat_model=s.threat_model, input_kind=INPUT_QUANTIZED)
        return SessionConfig(client_ids=tuple(sampled), graph_kind=graph.kind, degree=graph.degree,
                             threshold=graph.threshold,
                             modulus_range=default_modulus(n, s.quantization_range),
                             vector_length=s.vector_length,
                             clipping_range=float(s.training.clip_norm),
                             quantization_range=s.quantization_range, threat_model=s.threat_model,
                             input_kind=INPUT_FLOAT)

    def run_round(self, sampled: list[int]) -> RoundRecord | None:
        """Run one round over ``sampled``; records it (completed or aborted) and returns it."""
        round_ = self.round + 1
        started = time.time()
        stages: dict[str, Any] = {}
        version_before = self.current.version
        with self.cond:
            try:
                config = self._config(sampled)
            except SecAggError as exc:  # no secure parameters for this cohort: skip the round
                logs.log(self.logger, "round_skipped", 30, round=round_, sampled=len(sampled),
                         reason=str(exc)[:300])
                self.progress.wait(self.settings.poll_wait)
                return None
            self.revocation_lists = b"" if self.authority is None else self.authority.revocation_lists()
            stale = None if self.authority is None else self.authority.stale()
            if stale is not None:  # the clients will refuse this round: say why, where the operator looks
                logs.log(self.logger, "authority_crl_stale", 30, round=round_, reason=stale[:300])
            self.session = SecAggServer(config, identity_registry={c: self.keys[c] for c in sampled})
            self.instances.new_session()
            logs.log(self.logger, "round_started", round=round_, sampled=len(sampled),
                     threshold=config.threshold, degree=config.degree, version=version_before)
            requests = self.session.start()
            self._open_stage(requests, round_, sampled)
        abort_reason = None
        while True:
            with self.cond:
                session = self.session
                while not self._stage_done():
                    if self.stop_event.is_set():
                        self.tasks = {}
                        self.session = None
                        logs.log(self.logger, "round_interrupted", round=round_)
                        return None
                    self.progress.wait(0.1)
                stage = session.stage
                stages[stage.name] = {"expected": len(session.expected), "replied": len(session.replied),
                                      "rejected": len(session.rejected),
                                      "seconds": round(time.monotonic() - self.stage_opened, 4),
                                      "deadline_s": round(self.stage_deadline_s, 3)}
                logs.log(self.logger, "stage_closed", round=round_, stage=stage.name,
                         **stages[stage.name])
                try:
                    requests = session.advance()
                except SecAggError as exc:
                    abort_reason = f"{type(exc).__name__}: {exc}"
                    self.tasks = {}
                    break
                if not requests:
                    self.tasks = {}
                    break
                self._open_stage(requests, round_, sampled)
        return self._finish(round_, sampled, stages, version_before, started, abort_reason)

    def _finish(self, round_: int, sampled: list[int], stages: dict[str, Any], version_before: int,
                started: float, abort_reason: str | None) -> RoundRecord:
        session = self.session
        assert session is not None
        cfg = session.config
        new_version = None
        opt_blob = None
        privacy = None
        if abort_reason is None:
            assert session.result is not None
            res = session.result
            if self.dp_plan is not None:
                from .dp import decode_sum, round_privacy

                total = decode_sum(self.dp_plan, self.dp_round_seed, res.quantized_sum,
                                   len(res.included))
                privacy = round_privacy(self.dp_plan, self.ledger, round_, sorted(res.included),
                                        self.dp_population, len(sampled))
            else:
                total = dequantize(res.quantized_sum, clipping_range=cfg.clipping_range,
                                   quantization_range=cfg.quantization_range,
                                   modulus_range=cfg.modulus_range, num_clients=len(res.included))
            self.rec.apply(AggregationResult(total=total, included=res.included))
            new_version = ModelVersion.of(version_before + 1, round_, self.rec.model)
            opt_blob = pack_arrays(self.rec.optimizer.state_dict())
        record = RoundRecord(
            round=round_, status="aborted" if abort_reason else "completed", session_id=cfg.session_id,
            version_before=version_before,
            version_after=new_version.version if new_version else version_before,
            sampled=sampled, included=sorted(session.result.included) if new_version else [],
            modulus_range=cfg.modulus_range,
            quantized_sum=session.result.quantized_sum if new_version else None, stages=stages,
            abort_reason=abort_reason, started=started, finished=time.time())
        self.store.record_round(record, new_version, opt_blob, privacy)
        with self.cond:
            self.round = round_
            if new_version is not None:
                self.current = new_version
            self.session = None
        if abort_reason:
            logs.log(self.logger, "round_aborted", 30, round=round_, reason=abort_reason[:300],
                     seconds=round(record.finished - started, 4))
        else:
            logs.log(self.logger, "round_completed", round=round_, included=len(record.included),
                     sampled=len(sampled), version=record.version_after, hash=new_version.hash,
                     seconds=round(record.finished - started, 4), rss_kib=_rss_kib(),
                     **({} if privacy is None else {"epsilon_release": privacy["epsilon_release"],
                                                   "epsilon_server": privacy["epsilon_server"]}))
        return record



def _rss_kib() -> int | None:
    """This process's resident memory (Linux), for the round log; None elsewhere."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None
