"""``NetClient``: one device. Registers its Ed25519 key, polls for tasks, trains locally when a
round starts, runs the SecAgg(+) client state machine stage by stage, and reconnects with
exponential back-off (with jitter) after network errors, rejoining at the next round.

State kept in ``state_dir`` (mode 700): ``identity.key`` (raw Ed25519 private key, mode 600),
``identity.crt`` (its certificate from the enrolment authority, if enrolled) and ``client.json``
(mode 600: client id, run id, the newest model version seen: older ones are refused; the newest
CRL number seen per authority root: older CRLs are refused).

Each process registers when it starts, declaring the model shape and session policy it is
configured for (a client that cannot train the model or would refuse the server's sessions is
refused up front: :class:`~secagg.errors.RegistrationError`), and gets an instance token
that its requests carry. A process that another process of the same identity replaced gets
:class:`~secagg.errors.DuplicateIdentityError` and stops. :meth:`NetClient.run` returns when the
server announces the end of the run (:attr:`NetClient.ended` says why), or at the caller's limits.
"""

from __future__ import annotations

import datetime
import json
import os
import random
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import numpy as np
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from ..errors import (
    CertificateError,
    ConfigError,
    DuplicateIdentityError,
    InputError,
    NoiseFloorError,
    RegistrationError,
    SecAggError,
)
from ..protocol.client import SecAggClient
from ..protocol.policy import ClientPolicy
from ..protocol.stage import Stage
from ..rec.client import LocalConfig
from . import logs
from .auth import load_identity, registration_bytes
from .certs import read_pem
from .client_stream import TaskStream
from .files import write_atomic
from .model_io import ModelVersion
from .pki import TrustAnchors
from .proto import secagg_net_pb2 as pb
from .proto import secagg_net_pb2_grpc as pb_grpc
from .trainer import LocalTrainer

DEFAULT_MAX_CRL_AGE = 3 * 86400.0  # seconds; the authority's CRLs last 2 days by default
TRANSPORTS = ("stream", "unary")
KEEPALIVE_MS = 30_000  # client pings on a quiet connection; the server permits one per 10 s

RETRYABLE = {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED,
             grpc.StatusCode.CANCELLED, grpc.StatusCode.UNKNOWN, grpc.StatusCode.INTERNAL,
             grpc.StatusCode.RESOURCE_EXHAUSTED}


def _session_config(request: bytes) -> Any:
    """The SessionConfig a round's first request (an AdvertiseKeysRequest) carries."""
    from ..protocol.config import SessionConfig
    from ..protocol.messages import AdvertiseKeysRequest, decode

    message = decode(request)
    if not isinstance(message, AdvertiseKeysRequest):
        raise InputError("a round's first task does not carry the session config")
    return SessionConfig.from_wire(message.config, message.session_id)


def _session_clients(request: bytes) -> tuple[int, ...]:
    """The client ids a round's first request puts in the session."""
    return _session_config(request).client_ids


def require_enrolled(state_dir: str | Path, certificate: str | Path | None = None) -> None:
    """Raise :class:`ConfigError` unless the device's certificate file exists (before any work)."""
    path = Path(certificate) if certificate is not None else Path(state_dir) / "identity.crt"
    if not path.is_file():
        raise ConfigError(f"no certificate at {path}: enrol this device first (secagg authority request, "
                          "then install the certificate the authority issues)")


@dataclass(frozen=True)
class UpdateRecord:
    """One round's plaintext update as the client is about to mask it (for ``on_update``)."""

    round: int
    client_id: int
    session_id: bytes
    update: np.ndarray  # what is masked: the float update, or the DP integers
    rounding_seed: bytes
    float_update: np.ndarray
    quantized: np.ndarray | None  # distributed DP: the client's encoded integers


class NetClient:
    """A networked client. ``target`` is ``host:port``; ``ca`` the CA certificate (PEM path)."""

    def __init__(self, target: str, *, ca: str | Path, state_dir: str | Path, trainer: LocalTrainer,
                 enroll_token: bytes = b"", server_name: str | None = None, logger: Any = None,
                 poll_wait: float = 5.0, backoff: tuple[float, float] = (0.1, 5.0),
                 rpc_timeout: float = 30.0, on_update: Callable[[UpdateRecord], None] | None = None,
                 exit_at: dict[int, int] | None = None, policy: ClientPolicy | None = None,
                 model_shape: tuple[int, int] | None = None,
                 exit_after: dict[int, int] | None = None,
                 authority_roots: str | Path | None = None, certificate: str | Path | None = None,
                 max_crl_age: float = DEFAULT_MAX_CRL_AGE, trust_server_keys: bool = False,
                 transport: str = "stream") -> None:
        """``on_update`` (for the program embedding the client, e.g. its own tests) is called with each
        round's plaintext update before it is masked; nothing else ever sees it. ``policy``: what
        sessions this device takes part in (default: active sessions only, 5% assumed corrupt).
        ``model_shape``: (items, factors) this client trains (default: the trainer's ``n_items``
        and ``factors``), declared at registration. ``exit_at``/``exit_after`` (tests only): die
        with SIGKILL on receiving / after answering a round's stage.

        ``authority_roots``: the enrolment authority's pinned ``roots.pem``; every peer of a round
        must then hold a certificate from it, checked against CRLs at most ``max_crl_age`` seconds
        old, before this client trains or sends anything. ``certificate``: this client's own
        (PEM; default ``state_dir/identity.crt``). Without roots, ``trust_server_keys=True`` must
        say that the server may introduce any identity it likes (insecure against a malicious server).

        ``transport``: ``"stream"`` (default) holds one task stream to the server (tasks pushed,
        replies sent on it; :mod:`secagg.net.client_stream`), falling back to ``"unary"`` calls
        (long-polls) for the rest of the process if the server has no stream service."""
        if transport not in TRANSPORTS:
            raise ConfigError(f"transport must be one of {TRANSPORTS}, got {transport!r}")
        if authority_roots is None and not trust_server_keys:
            raise ConfigError("give the enrolment authority's roots (authority_roots, --authority-roots) so this "
                              "client can check its peers, or trust_server_keys=True "
                              "(--insecure-trust-server-keys) knowingly")
        if not max_crl_age > 0:
            raise ConfigError("max_crl_age must be > 0 seconds")
        if authority_roots is not None:
            require_enrolled(state_dir, certificate)
        if not 0 < backoff[0] <= backoff[1]:
            raise ConfigError("backoff must be (initial, maximum) seconds with 0 < initial <= maximum")
        self.target = target
        self.trainer = trainer
        self.enroll_token = enroll_token
        self.logger = logger or logs.get_logger("secagg.net.client")
        self.poll_wait = poll_wait
        self.backoff = backoff
        self.rpc_timeout = rpc_timeout
        self.on_update = on_update
        self.exit_at = dict(exit_at or {})
        self.exit_after = dict(exit_after or {})
        if model_shape is None and hasattr(trainer, "n_items") and hasattr(trainer, "factors"):
            model_shape = (int(trainer.n_items), int(trainer.factors))
        self.model_shape = model_shape
        if policy is not None and not isinstance(policy, ClientPolicy):
            raise ConfigError(f"policy must be a ClientPolicy or None, got {type(policy).__name__}")
        self.policy = policy or ClientPolicy(require_active=True)
        self.state_dir = Path(state_dir)
        self.state_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.identity = load_identity(self.state_dir)
        self.state = self._load_state()
        self.anchors = None if authority_roots is None else TrustAnchors.from_file(authority_roots)
        self.max_crl_age = datetime.timedelta(seconds=max_crl_age)
        self.certificate = self._load_certificate(certificate)
        options = [("grpc.max_receive_message_length", 1 << 30),
                   ("grpc.max_send_message_length", 1 << 30),
                   # a quiet task stream notices a vanished server (the server permits the pings)
                   ("grpc.keepalive_time_ms", KEEPALIVE_MS), ("grpc.keepalive_timeout_ms", 20_000),
                   ("grpc.http2.max_pings_without_data", 0)]
        if server_name:
            options.append(("grpc.ssl_target_name_override", server_name))
        creds = grpc.ssl_channel_credentials(root_certificates=read_pem(ca, "CA certificate"))
        self.channel = grpc.secure_channel(target, creds, options=options)
        self.stub = pb_grpc.AggregationStub(self.channel)
        self.transport = transport
        self.stream: TaskStream | None = None
        self.stop_event = threading.Event()
        self.session: SecAggClient | None = None
        self.session_id = b""
        self.have: tuple[bytes, int] = (b"", -1)
        self.rounds_done = 0
        self.rounds_joined = 0
        self.instance = b""  # this process's registration (RegisterReply.instance)
        self.ended: str | None = None  # why the server ended the run, once it said so

    # --- persistent state -----------------------------------------------------------------------
    def _load_certificate(self, path: str | Path | None) -> bytes:
        """This client's own certificate (DER), checked against the pinned roots; b"" if none."""
        p = Path(path) if path is not None else self.state_dir / "identity.crt"
        if not p.exists():
            if path is not None:
                raise ConfigError(f"no certificate at {p}")
            return b""
        try:
            der = x509.load_pem_x509_certificate(p.read_bytes()).public_bytes(Encoding.DER)
        except ValueError:
            raise ConfigError(f"{p} is not a PEM certificate (give the one secagg authority issue wrote)") from None
        if self.anchors is not None:
            try:
                self.anchors.verify(der, self.identity.public, None)
            except CertificateError as exc:
                raise ConfigError(f"this client's certificate {p} is unusable: {exc}") from None
        return der

    def _load_state(self) -> dict[str, Any]:
        path = self.state_dir / "client.json"
        if path.exists():
            try:
                return json.loads(path.read_text())
            except json.JSONDecodeError:
                logs.log(self.logger, "client_state_corrupt", 30, path=str(path))
        return {"client_id": None, "run_id": None, "last_version": 0, "crl_numbers": {}}

    def _save_state(self) -> None:
        write_atomic(self.state_dir / "client.json", json.dumps(self.state).encode())

    @property
    def client_id(self) -> int | None:
        return self.state["client_id"]

    # --- RPCs ---------------------------------------------------------------------------------------
    def register(self) -> int:
        """Register this process (every start): raises ConfigError if the server refuses it."""
        if self.model_shape is None:
            raise RegistrationError("the client's model shape is unknown: give the trainer n_items and "
                              "factors attributes, or pass model_shape=(items, factors)")
        counter = self.identity.next_counter()
        sig = self.identity.sign(registration_bytes(self.identity.public, self.enroll_token, counter))
        try:
            reply = self.stub.Register(pb.RegisterRequest(
                public_key=self.identity.public, enroll_token=self.enroll_token, counter=counter,
                signature=sig, certificate=self.certificate, n_items=self.model_shape[0],
                factors=self.model_shape[1], require_active=self.policy.require_active,
                corrupt_fraction=self.policy.corrupt_fraction),
                timeout=self.rpc_timeout)
        except grpc.RpcError as exc:
            if exc.code() in (grpc.StatusCode.FAILED_PRECONDITION, grpc.StatusCode.PERMISSION_DENIED):
                raise RegistrationError(f"the server refused this client: {exc.details()}") from None
            raise
        if self.state["run_id"] != reply.run_id:
            self.state["last_version"] = 0  # a new run: versions start afresh
        self.state.update(client_id=int(reply.client_id), run_id=reply.run_id)
        self._save_state()
        self.instance = bytes(reply.instance)
        self._close_stream()  # it spoke for the previous registration
        logs.log(self.logger, "registered", client_id=self.client_id)
        return int(reply.client_id)

    def _call(self, method: str, request: Any, timeout: float | None = None) -> Any:
        return getattr(self.stub, method)(self._signed(method, request), timeout=timeout or self.rpc_timeout)

    def _signed(self, method: str, request: Any) -> Any:
        assert self.client_id is not None
        request.instance = self.instance
        self.identity.sign_request(method, self.client_id, request)
        return request

    def _open_stream(self) -> TaskStream:
        if self.stream is None:
            hello = self._signed("Session", pb.TaskRequest(have_session=self.have[0], have_stage=self.have[1]))
            self.stream = TaskStream(self.channel, hello)
        return self.stream

    def _close_stream(self) -> None:
        if self.stream is not None:
            self.stream.close()
            self.stream = None

    def _next_task(self) -> Any:
        """The next task: pushed on the stream, or a long poll; WAIT if none came in the poll wait."""
        if self.transport == "stream":
            task = self._open_stream().next_task(self.poll_wait)
            return pb.Task(kind=pb.Task.WAIT) if task is None else task
        return self._call("GetTask", pb.TaskRequest(have_session=self.have[0], have_stage=self.have[1],
                                                    wait_ms=int(self.poll_wait * 1000)),
                          timeout=self.poll_wait + 10.0)

    def _submit(self, request: pb.SubmitRequest) -> None:
        if self.transport == "stream":
            self._open_stream().request(pb.ClientMessage(submit=self._signed("Session/Submit", request)),
                                        "submitted", self.rpc_timeout)
        else:
            self._call("Submit", request)

    def _heartbeat(self, session_id: bytes) -> None:
        """Tell the server this client is alive while it trains (the stage's task is already ours)."""
        request = pb.TaskRequest(have_session=session_id, have_stage=0, wait_ms=0)
        if self.transport == "stream":
            self._open_stream().send(pb.ClientMessage(heartbeat=self._signed("Session/Heartbeat", request)))
        else:
            self._call("GetTask", request, timeout=5.0)

    def fetch_model(self, version: int, expected_hash: str) -> ModelVersion:
        if self.transport == "stream":
            reply = self._open_stream().request(pb.ClientMessage(
                model=self._signed("Session/GetModel", pb.ModelRequest(version=version))), "model",
                self.rpc_timeout)
        else:
            reply = self._call("GetModel", pb.ModelRequest(version=version))
        if reply.version != version:
            raise InputError(f"asked for model version {version}, got {reply.version}")
        return ModelVersion.from_wire(reply.version, reply.round, reply.n_items, reply.factors,
                                      bytes(reply.vector), expected_hash)

    # --- the loop -------------------------------------------------------------------------------------
    def run(self, *, max_rounds: int | None = None, max_seconds: float | None = None) -> int:
        """Serve tasks until the server ends the run (:attr:`ended`), ``max_rounds`` rounds are
        completed, ``max_seconds`` passed or :meth:`stop`; returns the rounds this client completed.
        Raises RegistrationError if the server refuses to register it and DuplicateIdentityError if
        another process took over its identity."""
        end = None if max_seconds is None else time.monotonic() + max_seconds
        delay = self.backoff[0]
        while not self.stop_event.is_set():
            if end is not None and time.monotonic() > end:
                break
            if max_rounds is not None and self.rounds_done >= max_rounds:
                break
            try:
                if self.client_id is None or not self.instance:
                    self.register()  # once per process start: the server gets renewed certificates too
                task = self._next_task()
                delay = self.backoff[0]
                if task.kind == pb.Task.STAGE:
                    if (bytes(task.session_id), int(task.stage)) != self.have:  # never one task twice
                        self._handle(task)
                elif task.kind == pb.Task.END:
                    self.ended = task.end_reason or "the server ended the run"
                    logs.log(self.logger, "run_ended", client_id=self.client_id, reason=self.ended,
                             rounds_completed=task.rounds_completed, rounds_done=self.rounds_done)
                    break
                elif task.retry_after_ms:
                    self.stop_event.wait(task.retry_after_ms / 1000.0)
            except grpc.RpcError as exc:
                self._close_stream()
                code = exc.code()
                detail = exc.details() or ""
                if code == grpc.StatusCode.UNIMPLEMENTED and self.transport == "stream":
                    self.transport = "unary"  # a server without the task stream: long-poll instead
                    logs.log(self.logger, "stream_unavailable", client_id=self.client_id,
                             note="the server has no task stream; using unary calls")
                    continue
                logs.log(self.logger, "rpc_error", 30, client_id=self.client_id, status=code.name,
                         detail=detail[:200], retry_in=round(delay, 3))
                if detail.startswith("DuplicateIdentityError"):
                    raise DuplicateIdentityError(detail.split(": ", 1)[-1]) from None
                if code == grpc.StatusCode.UNAUTHENTICATED and "not registered" in detail:
                    self.state["client_id"] = None
                if detail.startswith("StaleInstanceError") and "register again" in detail:
                    self.instance = b""  # the server restarted: register this process again
                    continue
                if detail.startswith("StaleInstanceError"):
                    self.session = None  # held out of this session: wait for the next round
                # jitter, not key material; every failure waits, so none turns into a busy loop
                self.stop_event.wait(delay * (0.5 + random.random()))
                if code in RETRYABLE or code in (grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.PERMISSION_DENIED):
                    delay = min(2 * delay, self.backoff[1])
            except (RegistrationError, NoiseFloorError):  # the server cannot satisfy this client: stop
                raise
            except SecAggError as exc:  # a bad model, a bad task: skip this round, keep serving
                logs.log(self.logger, "task_failed", 30, client_id=self.client_id,
                         error=type(exc).__name__, reason=str(exc)[:200])
                self.session = None
        return self.rounds_done

    def stop(self) -> None:
        self.stop_event.set()

    def close(self) -> None:
        self._close_stream()
        self.channel.close()

    def _handle(self, task: Any) -> None:
        stage = Stage(task.stage)
        self.have = (bytes(task.session_id), int(task.stage))
        if int(task.round) in self.exit_at and int(stage) >= self.exit_at[int(task.round)]:
            # tests: die at this stage, or the first later one (a session may skip stages)
            logs.log(self.logger, "test_kill", client_id=self.client_id, round=task.round,
                     stage=stage.name)
            os.kill(os.getpid(), signal.SIGKILL)
        if stage is Stage.ADVERTISE_KEYS:
            self.session = None
            if not self._start_round(task):
                return
        elif self.session is None or self.session_id != bytes(task.session_id):
            return  # a round this client did not start (e.g. it restarted mid-round)
        try:
            reply = self.session.handle(bytes(task.request))
        except SecAggError as exc:
            logs.log(self.logger, "protocol_error", 30, client_id=self.client_id, round=task.round,
                     stage=stage.name, error=type(exc).__name__, reason=str(exc)[:200])
            self.session = None
            return
        if reply is None:
            self.session = None
            return
        try:
            self._submit(pb.SubmitRequest(round=task.round, stage=task.stage,
                                          session_id=task.session_id, reply=reply))
        except grpc.RpcError:
            if stage is Stage.ADVERTISE_KEYS:  # keys not advertised: never answer later stages
                self.session = None           # with keys the peers do not know
            raise
        if int(task.round) in self.exit_after and int(stage) >= self.exit_after[int(task.round)]:
            logs.log(self.logger, "test_kill", client_id=self.client_id, round=task.round,
                     stage=stage.name, after_reply=True)
            os.kill(os.getpid(), signal.SIGKILL)
        if stage is Stage.UNMASKING:
            self.rounds_done += 1
            if not self.session.ctx.cfg.active:  # active: an exclusion request may still follow
                self.session = None
        elif stage is Stage.EXCLUSION:
            self.session = None

    def _train(self, model: Any, config: LocalConfig, session_id: bytes) -> np.ndarray:
        """Local training in a worker thread while this thread keeps polling, so the server
        sees the client alive however long training takes (within the first stage's deadline)."""
        out: dict[str, Any] = {}

        def work() -> None:
            try:
                out["update"] = self.trainer.train(model, config)
            except BaseException as exc:  # noqa: BLE001 - re-raised below in this thread
                out["error"] = exc

        worker = threading.Thread(target=work, name="secagg-local-training", daemon=True)
        worker.start()
        while True:
            worker.join(self.poll_wait / 2)
            if not worker.is_alive():
                break
            try:
                self._heartbeat(session_id)
            except grpc.RpcError:
                pass
        if "error" in out:
            raise out["error"]
        return out["update"]

    def _check_peers(self, task: Any) -> bool:
        """The server's peer list: this client's own key in it and, with pinned roots, every peer
        certified (see :meth:`TrustAnchors.verify_peers`). False (logged) refuses the round."""
        registry = {int(p.client_id): bytes(p.public_key) for p in task.peers}
        if registry.get(self.client_id) != self.identity.public:
            logs.log(self.logger, "peer_list_rejected", 30, client_id=self.client_id,
                     reason="the server's peer list does not hold this client's own key")
            return False
        if self.anchors is None:
            return True
        try:
            _, revocations = self.anchors.verify_peers(
                [(int(p.client_id), bytes(p.public_key), bytes(p.certificate)) for p in task.peers],
                bytes(task.revocation_lists), max_age=self.max_crl_age,
                seen=self.state.setdefault("crl_numbers", {}))
            uncertified = sorted(set(_session_clients(bytes(task.request))) - set(registry))
            if uncertified:
                raise CertificateError(f"the session config names clients {uncertified[:10]} that the peer "
                                       "list gives no certified identity")
        except CertificateError as exc:
            logs.log(self.logger, "peer_certificates_rejected", 30, client_id=self.client_id,
                     round=task.round, error=type(exc).__name__, reason=str(exc)[:300])
            return False
        if dict(revocations.numbers) != self.state["crl_numbers"]:
            self.state["crl_numbers"].update(revocations.numbers)
            self._save_state()
        return True

    def _check_noise(self, task: Any) -> float | None:
        """Refuse (:class:`NoiseFloorError`) a round whose DP noise is below this client's floor,
        counted over the contributors it can rely on, before anything is trained or sent; returns
        the noise multiplier counted on (None without a floor)."""
        if self.policy.min_noise_multiplier is None:
            return None
        local_variance = sensitivity = None
        if task.dp_params:
            from .dp import client_noise_terms, params_from_wire

            items, factors = self.model_shape or (0, 0)
            size = items * (factors + 1)  # the item factors and biases (MFModel.size)
            local_variance, sensitivity = client_noise_terms(params_from_wire(bytes(task.dp_params)), size)
        config = _session_config(bytes(task.request))
        z = self.policy.check_noise(config, local_variance, sensitivity)
        logs.log(self.logger, "dp_noise_accepted", client_id=self.client_id, round=task.round,
                 noise_multiplier=round(z, 4), floor=self.policy.min_noise_multiplier)
        return z

    def _start_round(self, task: Any) -> bool:
        if not self._check_peers(task):  # before the model is fetched or anything is trained or sent
            return False
        self._check_noise(task)
        if task.model_version < self.state["last_version"]:
            logs.log(self.logger, "stale_model_refused", 30, client_id=self.client_id,
                     offered=task.model_version, last_seen=self.state["last_version"])
            return False
        mv = self.fetch_model(int(task.model_version), task.model_hash)
        if mv.version > self.state["last_version"]:
            self.state["last_version"] = mv.version
            self._save_state()
        t = task.training
        config = LocalConfig(epochs=t.epochs, lr=t.lr, reg=t.reg, batch_size=t.batch_size,
                             negatives=t.negatives, clip_norm=t.clip_norm)
        update = np.asarray(self._train(mv.to_model(), config, bytes(task.session_id)),
                            dtype=np.float32)
        rounding_seed = os.urandom(32)
        extra: dict[str, np.ndarray] = {"float_update": update}
        if task.dp_params:  # distributed DP: encode with the Skellam mechanism, send integers
            from .dp import encode_update, params_from_wire

            params = params_from_wire(bytes(task.dp_params))
            if len(task.dp_round_seed) != 32:
                raise InputError("the DP round seed must be 32 bytes")
            update = encode_update(params, bytes(task.dp_round_seed), update, rounding_seed)
            extra["quantized"] = update
        if self.on_update is not None:
            assert self.client_id is not None
            self.on_update(UpdateRecord(int(task.round), self.client_id, bytes(task.session_id), update,
                                        rounding_seed, extra["float_update"], extra.get("quantized")))
        registry = {int(p.client_id): bytes(p.public_key) for p in task.peers}
        assert self.client_id is not None
        self.session = SecAggClient(self.client_id, update, rounding_seed=rounding_seed,
                                    identity=self.identity.key, identity_registry=registry, policy=self.policy)
        self.session_id = bytes(task.session_id)
        self.rounds_joined += 1
        return True
