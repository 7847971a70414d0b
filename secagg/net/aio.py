"""The asyncio gRPC front end (``grpc.aio``): no thread per waiting client.

A waiting long-poll is a coroutine awaiting an :class:`asyncio.Event` that the coordinator sets
(through :meth:`Coordinator.add_listener`) whenever the tasks change, so a thousand clients
waiting for the next stage cost no threads. The work of each call - authentication (a signature
check and a synced counter write), a protocol reply, a model read - runs on a small fixed pool of
worker threads through the synchronous :class:`~secagg.net.service.AggregationService`, so the
error mapping, logging and per-client call limits are the same for both front ends.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import grpc

from ..errors import SecAggError
from .proto import secagg_net_pb2 as pb
from .proto import secagg_net_pb2_grpc as pb_grpc
from .request_stats import RequestCounts
from .service import AggregationService, status_of


class _Aborted(Exception):
    def __init__(self, code: grpc.StatusCode, details: str) -> None:
        super().__init__(details)
        self.code, self.details = code, details


class _WorkerContext:
    """What the synchronous servicer uses of a context, usable on a worker thread: ``abort``
    raises :class:`_Aborted`, which the coroutine turns into the call's status."""

    def __init__(self, context: grpc.aio.ServicerContext) -> None:
        self._peer = context.peer()
        self._remaining = context.time_remaining()

    def peer(self) -> str:
        return self._peer

    def time_remaining(self) -> float | None:
        return self._remaining

    def abort(self, code: grpc.StatusCode, details: str) -> None:
        raise _Aborted(code, details)


class AsyncAggregationService(pb_grpc.AggregationServicer):
    def __init__(self, service: AggregationService, pool: ThreadPoolExecutor,
                 loop: asyncio.AbstractEventLoop, counts: RequestCounts | None = None) -> None:
        self.sync = service
        self.counts = counts or RequestCounts()
        self.co = service.co
        self.pool = pool
        self.loop = loop
        self._changed = asyncio.Event()
        self.co.add_listener(lambda: loop.call_soon_threadsafe(self._wake))

    def _wake(self) -> None:  # on the loop: wake every waiting poll, arm a fresh event
        event, self._changed = self._changed, asyncio.Event()
        event.set()

    async def _work(self, fn: Callable[..., Any], *args: Any) -> Any:
        return await self.loop.run_in_executor(self.pool, fn, *args)

    async def _call(self, method: str, handler: Callable[[Any, Any], Any], request: Any,
                    context: grpc.aio.ServicerContext) -> Any:
        try:
            reply = await self._work(handler, request, _WorkerContext(context))
        except _Aborted as a:
            self.counts.add(method, a.code.name)
            await context.abort(a.code, a.details)
        self.counts.add(method, "OK")
        return reply

    async def Register(self, request: pb.RegisterRequest, context: grpc.aio.ServicerContext) -> Any:
        return await self._call("Register", self.sync.Register, request, context)

    async def Submit(self, request: pb.SubmitRequest, context: grpc.aio.ServicerContext) -> Any:
        return await self._call("Submit", self.sync.Submit, request, context)

    async def GetModel(self, request: pb.ModelRequest, context: grpc.aio.ServicerContext) -> Any:
        return await self._call("GetModel", self.sync.GetModel, request, context)

    async def GetTask(self, request: pb.TaskRequest, context: grpc.aio.ServicerContext) -> Any:
        ctx = _WorkerContext(context)
        try:
            cid = await self._work(self.sync._authenticate, "GetTask", request, ctx)
            with self.sync._limited("GetTask", cid, ctx):  # the slot is held while waiting
                task = await self._long_poll(cid, request, ctx)
        except _Aborted as a:
            self.counts.add("GetTask", a.code.name)
            await context.abort(a.code, a.details)
        self.counts.add("GetTask", "OK")
        return task

    async def _long_poll(self, cid: int, request: pb.TaskRequest, ctx: _WorkerContext) -> Any:
        wait = min(request.wait_ms / 1000.0, max(0.0, (ctx.time_remaining() or 30.0) - 0.2), 30.0)
        deadline = self.loop.time() + wait
        args = (cid, bytes(request.have_session), int(request.have_stage), bytes(request.instance))
        while True:
            changed = self._changed  # taken before polling: a change after the poll sets it
            try:
                task = await self._work(self.co.poll_task, *args)
            except SecAggError as exc:  # superseded by a newer process while waiting
                self.sync._reject(ctx, "GetTask", status_of(exc), exc, cid)
            if task is not None:
                return task
            left = deadline - self.loop.time()
            if left <= 0:
                return pb.Task(kind=pb.Task.WAIT)
            try:
                await asyncio.wait_for(changed.wait(), left)
            except asyncio.TimeoutError:
                pass


class AioFrontEnd:
    """A ``grpc.aio`` server on an event-loop thread of its own, driven from synchronous code;
    ``workers`` threads do the calls' work (a fixed number, however many clients wait)."""

    def __init__(self, options: list[tuple[str, Any]], maximum_concurrent_rpcs: int, workers: int,
                 counts: RequestCounts | None = None) -> None:
        self.counts = counts or RequestCounts()
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True, name="secagg-aio")
        self.thread.start()
        self.pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="secagg-rpc")
        self._stopped = False

        async def make() -> grpc.aio.Server:
            return grpc.aio.server(options=options, maximum_concurrent_rpcs=maximum_concurrent_rpcs)

        self.server = self._run(make())

    def _run(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result()

    def _on_loop(self, fn: Callable[[], Any]) -> Any:
        async def call() -> Any:
            return fn()
        return self._run(call())

    def add_secure_port(self, address: str, creds: grpc.ServerCredentials) -> int:
        return int(self._on_loop(lambda: self.server.add_secure_port(address, creds)))

    def add_service(self, service: AggregationService) -> None:
        """The unary ``Aggregation`` calls and the ``Sessions`` task stream
        (:mod:`secagg.net.stream_service`)."""
        from .stream_service import StreamService

        def add() -> None:
            pb_grpc.add_AggregationServicer_to_server(
                AsyncAggregationService(service, self.pool, self.loop, self.counts), self.server)
            streams = StreamService(service, self.pool, self.loop, self.counts)
            service.co.add_listener(lambda: self.loop.call_soon_threadsafe(streams.wake))
            self.server.add_generic_rpc_handlers((streams.handler(),))
            self.streams = streams

        self._on_loop(add)

    def add_admin(self, admin: Any) -> None:
        """Serve the ``Admin`` service (:class:`~secagg.net.admin_service.AdminService`)."""
        from .admin_service import AsyncAdminService

        self._on_loop(lambda: pb_grpc.add_AdminServicer_to_server(
            AsyncAdminService(admin, self.pool), self.server))

    def start(self) -> None:
        self._run(self.server.start())

    def stop(self, grace: float | None) -> None:
        """Stop serving (idempotent), then the loop and the workers."""
        if self._stopped:
            return
        self._stopped = True
        try:
            self._run(self.server.stop(grace))
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(10)
            self.pool.shutdown(wait=False, cancel_futures=True)
