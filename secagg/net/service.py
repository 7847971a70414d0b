"""The gRPC servicer: authenticates every request, then hands it to the :class:`Coordinator`.

Errors map to clear gRPC status codes and never take the server down:

=============================================  =====================
unknown client, bad signature, replayed counter UNAUTHENTICATED
wrong enrolment token, not in this session      PERMISSION_DENIED
no valid authority certificate at registration  PERMISSION_DENIED
malformed protocol message / garbage            INVALID_ARGUMENT
reply for another round or stage                FAILED_PRECONDITION
process superseded / not registered (instance)  FAILED_PRECONDITION (DuplicateIdentityError /
                                                StaleInstanceError: re-register)
model shape differs from the server's           FAILED_PRECONDITION (ConfigError)
reply after the stage deadline                  DEADLINE_EXCEEDED
model version no longer kept                    NOT_FOUND
request over the size limit                     RESOURCE_EXHAUSTED (enforced by gRPC itself)
more concurrent calls than one client may make  RESOURCE_EXHAUSTED (TooManyCallsError)
=============================================  =====================
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import grpc

from ..errors import (
    AbortedError,
    AuthenticationError,
    CertificateError,
    CheckpointError,
    ConfigError,
    DeadlineError,
    InvalidMessageError,
    ReplayError,
    SecAggError,
    TooManyCallsError,
    UnknownClientError,
)
from . import logs
from .auth import RequestVerifier
from .coordinator import Coordinator
from .limits import CallLimiter
from .proto import secagg_net_pb2 as pb
from .proto import secagg_net_pb2_grpc as pb_grpc

_CODES: list[tuple[type[Exception], grpc.StatusCode]] = [
    (TooManyCallsError, grpc.StatusCode.RESOURCE_EXHAUSTED),
    (ReplayError, grpc.StatusCode.FAILED_PRECONDITION),
    (InvalidMessageError, grpc.StatusCode.INVALID_ARGUMENT),
    (UnknownClientError, grpc.StatusCode.PERMISSION_DENIED),
    (AuthenticationError, grpc.StatusCode.INVALID_ARGUMENT),  # inside a protocol payload
    (DeadlineError, grpc.StatusCode.DEADLINE_EXCEEDED),
    (AbortedError, grpc.StatusCode.FAILED_PRECONDITION),
    (CheckpointError, grpc.StatusCode.NOT_FOUND),
    (ConfigError, grpc.StatusCode.FAILED_PRECONDITION),
    (SecAggError, grpc.StatusCode.INVALID_ARGUMENT),
]


def status_of(exc: Exception) -> grpc.StatusCode:
    for cls, code in _CODES:
        if isinstance(exc, cls):
            return code
    return grpc.StatusCode.INTERNAL


class AggregationService(pb_grpc.AggregationServicer):
    def __init__(self, coordinator: Coordinator, verifier: RequestVerifier, logger: Any,
                 calls_per_client: int = 4) -> None:
        self.co = coordinator
        self.verifier = verifier
        self.logger = logger
        self.limiter = CallLimiter(calls_per_client)
        self._throttled: set[int] = set()

    @contextmanager
    def _limited(self, method: str, client_id: int, context: grpc.ServicerContext) -> Iterator[None]:
        """One of ``client_id``'s call slots for the handler (refused: RESOURCE_EXHAUSTED; logged
        once per client, so that a flood of calls does not flood the log)."""
        try:
            with self.limiter.slot(client_id):
                yield
        except TooManyCallsError as exc:
            if client_id not in self._throttled:
                self._throttled.add(client_id)
                logs.log(self.logger, "calls_refused", 30, method=method, client_id=client_id,
                         reason=str(exc)[:200], note="further refusals of this client are not logged")
            context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED, f"{type(exc).__name__}: {exc}")

    def _reject(self, context: grpc.ServicerContext, method: str, code: grpc.StatusCode,
                exc: Exception, client_id: int | None = None) -> None:
        logs.log(self.logger, "request_rejected", 30, method=method, status=code.name,
                 client_id=client_id, reason=str(exc)[:200], peer=context.peer())
        context.abort(code, f"{type(exc).__name__}: {exc}")

    def _authenticate(self, method: str, request: Any, context: grpc.ServicerContext) -> int:
        cid = int(request.auth.client_id) if request.HasField("auth") else None
        try:
            verified: int | Exception = self.verifier.verify(method, request, None if cid is None else
                                                             self.co.public_key(cid))
        except SecAggError as exc:  # AuthenticationError or ReplayError (replayed counter)
            verified = exc
        return self.admit(method, request, context, verified)

    def admit(self, method: str, request: Any, context: grpc.ServicerContext,
              verified: int | Exception) -> int:
        """The rest of :meth:`_authenticate` once the verifier checked ``request`` (its client id)
        or refused it (the exception): the refusal, or the instance check; returns the client id."""
        if isinstance(verified, SecAggError):
            cid = int(request.auth.client_id) if request.HasField("auth") else None
            self._reject(context, method, grpc.StatusCode.UNAUTHENTICATED, verified, cid)
        if isinstance(verified, Exception):
            raise verified
        client_id = verified
        try:  # the signature covers the instance token: only this identity's process could send it
            self.co.check_instance(client_id, bytes(request.instance))
        except SecAggError as exc:
            self._reject(context, method, status_of(exc), exc, client_id)
        self.co.touch(client_id)
        return client_id

    def Register(self, request: pb.RegisterRequest, context: grpc.ServicerContext) -> pb.RegisterReply:
        try:
            self.verifier.verify_registration(bytes(request.public_key), bytes(request.enroll_token),
                                              int(request.counter), bytes(request.signature))
        except SecAggError as exc:
            self._reject(context, "Register", grpc.StatusCode.UNAUTHENTICATED, exc)
        try:
            cid, instance = self.co.register(bytes(request.public_key), bytes(request.enroll_token),
                                             (int(request.n_items), int(request.factors)),
                                             (bool(request.require_active), float(request.corrupt_fraction)),
                                             bytes(request.certificate))
        except (UnknownClientError, CertificateError) as exc:
            self._reject(context, "Register", grpc.StatusCode.PERMISSION_DENIED, exc)
        except ConfigError as exc:
            self._reject(context, "Register", grpc.StatusCode.FAILED_PRECONDITION, exc)
        return pb.RegisterReply(client_id=cid, run_id=self.co.run_id, instance=instance)

    def GetTask(self, request: pb.TaskRequest, context: grpc.ServicerContext) -> pb.Task:
        cid = self._authenticate("GetTask", request, context)
        wait = min(request.wait_ms / 1000.0, max(0.0, (context.time_remaining() or 30.0) - 0.2))
        with self._limited("GetTask", cid, context):
            try:
                return self.co.get_task(cid, bytes(request.have_session), int(request.have_stage), wait,
                                        bytes(request.instance))
            except SecAggError as exc:  # superseded by a newer process while waiting
                self._reject(context, "GetTask", status_of(exc), exc, cid)

    def Submit(self, request: pb.SubmitRequest, context: grpc.ServicerContext) -> pb.SubmitReply:
        cid = self._authenticate("Submit", request, context)
        with self._limited("Submit", cid, context):
            try:
                self.co.submit(cid, int(request.round), int(request.stage), bytes(request.session_id),
                               bytes(request.reply), bytes(request.instance))
            except SecAggError as exc:
                self._reject(context, "Submit", status_of(exc), exc, cid)
        return pb.SubmitReply(accepted=True)

    def GetModel(self, request: pb.ModelRequest, context: grpc.ServicerContext) -> pb.ModelReply:
        cid = self._authenticate("GetModel", request, context)
        with self._limited("GetModel", cid, context):
            try:
                mv = self.co.model(int(request.version))
            except SecAggError as exc:
                self._reject(context, "GetModel", status_of(exc), exc)
        return pb.ModelReply(version=mv.version, round=mv.round, hash=mv.hash, n_items=mv.n_items,
                             factors=mv.factors, vector=mv.vector.astype("<f4").tobytes())
