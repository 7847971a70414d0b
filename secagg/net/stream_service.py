"""The task stream (``Sessions.Session``) of the asyncio front end: one bidirectional stream per
client process instead of ~20 unary calls per round.

The client opens the stream with a signed ``hello`` (a TaskRequest, method ``"Session"``); the
server pushes each task as soon as the coordinator publishes it and answers the client's
``submit`` and ``model`` requests in order. Every client message is checked as its unary twin
is - Ed25519 signature over its own fresh counter (method ``"Session/Submit"``,
``"Session/GetModel"``, ``"Session/Heartbeat"``), the replay window with the counter durable
before the message is served, the instance token - and must come from the stream's own client
and process. A refused message ends the stream with the status its unary call would have got.

Limits: a stream holds one of its client's call slots while open (:class:`CallLimiter`), and a
client has at most one stream: a newer stream of the same process replaces the older one
(ended ``ABORTED``); a stream of a process that a newer registration replaced is ended by the
duplicate-identity rule (``FAILED_PRECONDITION``, :class:`DuplicateIdentityError`) at its next poll.

Costs: when the tasks change, ONE worker-thread job polls every open stream under one lock
(:meth:`Coordinator.poll_streams`) and the serialised tasks (the shared part of a round's first
task serialised once per stage, :mod:`secagg.net.stage_tasks`) are written by each stream's
coroutine. The clients' messages queue up and are served in batches, one worker-thread job per
batch (whatever arrived while the previous batch was served) with ONE durable write of the
batch's replay counters (:meth:`RequestVerifier.verify_many`); each message is still served only
after its counter is on disk. Nobody waits in a thread.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import grpc

from ..errors import SecAggError, TooManyCallsError
from . import logs
from .proto import secagg_net_pb2 as pb
from .request_stats import RequestCounts
from .service import AggregationService, status_of
from .stage_tasks import StageTask

SERVICE = "secagg.net.v1.Sessions"
_ACK = pb.ServerMessage(submitted=pb.SubmitReply(accepted=True)).SerializeToString()
_CLOSE = object()  # ends a stream's writer
_METHODS = {"submit": "Session/Submit", "model": "Session/GetModel", "heartbeat": "Session/Heartbeat"}
# (the method each stream message is signed for)


class Aborted(Exception):
    """A refused stream or message: the status the stream ends with."""

    def __init__(self, code: grpc.StatusCode, details: str) -> None:
        super().__init__(details)
        self.code, self.details = code, details


class _Context:
    """What the synchronous servicer uses of a context, on a worker thread (``abort`` raises)."""

    def __init__(self, peer: str) -> None:
        self._peer = peer

    def peer(self) -> str:
        return self._peer

    def time_remaining(self) -> float | None:
        return None

    def abort(self, code: grpc.StatusCode, details: str) -> None:
        raise Aborted(code, details)


class _Stream:
    """One open stream: its client, process, last task handed over and outgoing messages."""

    def __init__(self, client_id: int, instance: bytes, have: tuple[bytes, int], ctx: _Context) -> None:
        self.client_id = client_id
        self.instance = instance
        self.have = have
        self.ctx = ctx
        self.out: asyncio.Queue[Any] = asyncio.Queue()
        self.failure: Aborted | None = None
        self.done = False

    def send(self, data: bytes) -> None:
        if not self.done:
            self.out.put_nowait(data)

    def end(self, failure: Aborted | None = None) -> None:
        """Stop the stream after what is queued (``failure``: with that status)."""
        if not self.done:
            self.done = True
            self.failure = failure
            self.out.put_nowait(_CLOSE)


def _serialize(message: Any) -> bytes:
    return message if isinstance(message, bytes) else message.SerializeToString()


class StreamService:
    """``Sessions.Session`` on a ``grpc.aio`` server; call :meth:`wake` (on the loop) when the
    coordinator's tasks change."""

    def __init__(self, service: AggregationService, pool: ThreadPoolExecutor,
                 loop: asyncio.AbstractEventLoop, counts: RequestCounts) -> None:
        self.sync = service
        self.co = service.co
        self.pool = pool
        self.loop = loop
        self.counts = counts
        self.streams: dict[int, _Stream] = {}
        self._polling = False
        self._again = False
        self._models: dict[int, bytes] = {}  # model version -> its serialised ServerMessage
        self._inbox: list[tuple[_Stream, str, Any, asyncio.Future[Any]]] = []  # messages to serve
        self._draining = False

    def handler(self) -> grpc.GenericRpcHandler:
        return grpc.method_handlers_generic_handler(SERVICE, {
            "Session": grpc.stream_stream_rpc_method_handler(
                self.Session, request_deserializer=pb.ClientMessage.FromString,
                response_serializer=_serialize)})

    async def _work(self, fn: Callable[..., Any], *args: Any) -> Any:
        return await self.loop.run_in_executor(self.pool, fn, *args)

    # --- pushing tasks ---------------------------------------------------------------------------
    def wake(self) -> None:
        """The tasks changed: poll every open stream (once; again if they change meanwhile)."""
        if self._polling:
            self._again = True
            return
        if self.streams:
            self._polling = True
            self.loop.create_task(self._poll_all())

    async def _poll_all(self) -> None:
        try:
            while True:
                self._again = False
                streams = [s for s in self.streams.values() if not s.done]
                polls = [(s.client_id, s.have[0], s.have[1], s.instance) for s in streams]
                results = await self._work(self.co.poll_streams, polls) if polls else []
                for stream, result in zip(streams, results):
                    self._deliver(stream, result)
                if not self._again:
                    return
        finally:
            self._polling = False

    def _deliver(self, stream: _Stream, result: Any) -> None:
        if result is None or stream.done:
            return
        if isinstance(result, SecAggError):  # e.g. replaced by a newer process of its identity
            logs.log(self.sync.logger, "request_rejected", 30, method="Session", client_id=stream.client_id,
                     status=status_of(result).name, reason=str(result)[:200], peer=stream.ctx.peer())
            stream.end(Aborted(status_of(result), f"{type(result).__name__}: {result}"))
        elif isinstance(result, StageTask):
            if result.session_id == stream.have[0] and result.stage <= stream.have[1]:
                return  # already pushed by a concurrent poll of this stream
            stream.have = (result.session_id, result.stage)
            stream.send(result.wire())
        elif result.kind == pb.Task.END:
            stream.send(pb.ServerMessage(task=result).SerializeToString())
            stream.end()
        # WAIT (the server is stopping): nothing to push

    # --- one stream --------------------------------------------------------------------------------
    async def Session(self, requests: Any, context: grpc.aio.ServicerContext) -> None:
        ctx = _Context(context.peer())
        status = "OK"
        try:
            first = await context.read()
            if first is grpc.aio.EOF or first.WhichOneof("body") != "hello":
                raise Aborted(grpc.StatusCode.INVALID_ARGUMENT, "a task stream opens with a hello")
            hello = first.hello
            cid = await self._work(self.sync._authenticate, "Session", hello, ctx)
            stream = _Stream(cid, bytes(hello.instance), (bytes(hello.have_session), int(hello.have_stage)), ctx)
            try:
                with self.sync.limiter.slot(cid):
                    await self._serve(stream, context)
            except TooManyCallsError as exc:
                raise Aborted(grpc.StatusCode.RESOURCE_EXHAUSTED, f"{type(exc).__name__}: {exc}") from None
        except Aborted as a:
            status = a.code.name
            self.counts.add("Session", status)
            await context.abort(a.code, a.details)
        except asyncio.CancelledError:  # the client went away
            self.counts.add("Session", "CANCELLED")
            raise
        self.counts.add("Session", status)

    async def _serve(self, stream: _Stream, context: grpc.aio.ServicerContext) -> None:
        cid = stream.client_id
        old = self.streams.get(cid)
        if old is not None:
            old.end(Aborted(grpc.StatusCode.ABORTED, "replaced by a newer task stream of this client"))
        self.streams[cid] = stream
        self.co.stream_opened(cid)
        reader = self.loop.create_task(self._read(stream, context))
        try:
            self._deliver(stream, (await self._work(self.co.poll_streams, [
                (cid, stream.have[0], stream.have[1], stream.instance)]))[0])
            while True:
                item = await stream.out.get()
                if item is _CLOSE:
                    break
                await context.write(item)
        finally:
            reader.cancel()
            if self.streams.get(cid) is stream:
                del self.streams[cid]
            stream.done = True
            self.co.stream_closed(cid)
        if stream.failure is not None:
            raise stream.failure

    async def _read(self, stream: _Stream, context: grpc.aio.ServicerContext) -> None:
        """Serve the client's messages in order until it closes its side or one is refused."""
        method = "Session"
        try:
            while not stream.done:
                method = "Session"
                message = await context.read()
                if message is grpc.aio.EOF:
                    stream.end()
                    return
                kind = message.WhichOneof("body")
                method = _METHODS.get(kind, "Session")
                if kind not in _METHODS:
                    raise Aborted(grpc.StatusCode.INVALID_ARGUMENT, f"unexpected {kind} on an open task stream")
                answer = await self._handle(stream, kind, getattr(message, kind))
                self.counts.add(method, "OK")
                if answer is not None:
                    stream.send(answer)
        except Aborted as a:
            if method != "Session":
                self.counts.add(method, a.code.name)
            stream.end(a)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - the stream breaks (e.g. the client went away)
            stream.end(Aborted(grpc.StatusCode.UNAVAILABLE, f"{type(exc).__name__}: {exc}"))

    # --- the clients' messages, in batches ----------------------------------------------------------
    async def _handle(self, stream: _Stream, kind: str, request: Any) -> bytes | None:
        """Serve one client message (its answer, if any): queued for the next batch."""
        future = self.loop.create_future()
        self._inbox.append((stream, kind, request, future))
        if not self._draining:
            self._draining = True
            self.loop.create_task(self._drain())
        return await future

    async def _drain(self) -> None:
        """One worker-thread job per batch of queued messages (whatever queued meanwhile is next)."""
        try:
            while self._inbox:
                batch, self._inbox = self._inbox, []
                try:
                    results = await self._work(self._serve_batch, [item[:3] for item in batch])
                except Exception as exc:  # noqa: BLE001 - e.g. the database failed: refuse the batch
                    results = [Aborted(grpc.StatusCode.INTERNAL, f"{type(exc).__name__}: {exc}")] * len(batch)
                for (_, _, _, future), result in zip(batch, results):
                    if future.done():  # its stream went away meanwhile
                        continue
                    if isinstance(result, BaseException):
                        future.set_exception(result)
                    else:
                        future.set_result(result)
        finally:
            self._draining = False

    def _serve_batch(self, items: list[tuple[_Stream, str, Any]]) -> list[Any]:
        """Check and serve messages (worker thread): each is checked as its unary call is, with one
        durable counter write for the batch. Returns each one's answer (bytes, None) or Aborted."""
        out: list[Any] = [None] * len(items)
        checked = []
        for i, (stream, kind, request) in enumerate(items):
            if int(request.auth.client_id) != stream.client_id or bytes(request.instance) != stream.instance:
                out[i] = Aborted(grpc.StatusCode.PERMISSION_DENIED,
                                 "a message of another client or process on this task stream")
            else:
                checked.append(i)
        verified = self.sync.verifier.verify_many([
            (_METHODS[items[i][1]], items[i][2], self.co.public_key(items[i][0].client_id)) for i in checked])
        for i, result in zip(checked, verified):
            stream, kind, request = items[i]
            try:
                self.sync.admit(_METHODS[kind], request, stream.ctx, result)
                if kind == "submit":
                    self._submit(stream, request)
                    out[i] = _ACK
                elif kind == "model":
                    out[i] = self._model(stream, request)
            except Aborted as a:
                out[i] = a
        return out

    def _submit(self, stream: _Stream, request: pb.SubmitRequest) -> None:
        try:
            self.co.submit(stream.client_id, int(request.round), int(request.stage),
                           bytes(request.session_id), bytes(request.reply), bytes(request.instance))
        except SecAggError as exc:
            self.sync._reject(stream.ctx, "Session/Submit", status_of(exc), exc, stream.client_id)

    def _model(self, stream: _Stream, request: pb.ModelRequest) -> bytes:
        try:
            mv = self.co.model(int(request.version))
        except SecAggError as exc:
            self.sync._reject(stream.ctx, "Session/GetModel", status_of(exc), exc)
        wire = self._models.get(mv.version)
        if wire is None:  # serialised once per version (a 45k-item model is megabytes)
            wire = pb.ServerMessage(model=pb.ModelReply(
                version=mv.version, round=mv.round, hash=mv.hash, n_items=mv.n_items, factors=mv.factors,
                vector=mv.vector.astype("<f4").tobytes())).SerializeToString()
            self._models = {mv.version: wire, **{v: w for v, w in self._models.items() if v > mv.version - 2}}
        return wire
