"""The client's end of the task stream (``Sessions.Session``, see :mod:`secagg.net.stream_service`).

A :class:`TaskStream` sends the client's signed messages through a queue that gRPC drains, and a
reader thread queues what the server pushes, so the client waits for a task, an acknowledgement
or a model with a timeout. Tasks pushed while it waits for an answer are kept, in order. Anything
that ends the stream (a refusal, the server going away, a timeout) surfaces as a
:class:`grpc.RpcError` with the stream's status, as a failed unary call would.
"""

from __future__ import annotations

import collections
import queue
import threading
from typing import Any

import grpc

from .proto import secagg_net_pb2 as pb


class StreamError(grpc.RpcError):
    """The stream ended or timed out without a gRPC status of its own."""

    def __init__(self, code: grpc.StatusCode, details: str) -> None:
        super().__init__(details)
        self._code, self._details = code, details

    def code(self) -> grpc.StatusCode:
        return self._code

    def details(self) -> str:
        return self._details


_END = object()


class TaskStream:
    """One open ``Session`` stream; ``hello`` is the signed TaskRequest that opens it."""

    def __init__(self, channel: grpc.Channel, hello: pb.TaskRequest) -> None:
        self._out: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._in: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._tasks: collections.deque[pb.Task] = collections.deque()
        self._out.put(pb.ClientMessage(hello=hello))
        session = channel.stream_stream("/secagg.net.v1.Sessions/Session",
                                        request_serializer=pb.ClientMessage.SerializeToString,
                                        response_deserializer=pb.ServerMessage.FromString)
        self._call = session(iter(self._out.get, _END))
        self._reader = threading.Thread(target=self._read, daemon=True, name="secagg-stream-reader")
        self._reader.start()
        self.closed = False

    def _read(self) -> None:
        try:
            for message in self._call:
                self._in.put(message)
            self._in.put(StreamError(grpc.StatusCode.UNAVAILABLE, "the server closed the task stream"))
        except grpc.RpcError as exc:
            self._in.put(exc)

    def _next(self, timeout: float, what: str) -> pb.ServerMessage:
        try:
            item = self._in.get(timeout=timeout)
        except queue.Empty:
            raise StreamError(grpc.StatusCode.DEADLINE_EXCEEDED, f"no {what} within {timeout:g} s") from None
        if isinstance(item, BaseException):
            self._in.put(item)  # every later read fails alike
            raise item
        return item

    def next_task(self, timeout: float) -> pb.Task | None:
        """The next pushed task, or None if none came within ``timeout`` seconds."""
        if self._tasks:
            return self._tasks.popleft()
        try:
            message = self._next(timeout, "task")
        except StreamError as exc:
            if exc.code() is grpc.StatusCode.DEADLINE_EXCEEDED:
                return None
            raise
        if message.WhichOneof("body") != "task":
            raise StreamError(grpc.StatusCode.INTERNAL, "the server answered a request nobody made")
        return message.task

    def request(self, message: pb.ClientMessage, answer: str, timeout: float) -> Any:
        """Send ``message`` and wait for its ``answer`` (``submitted`` or ``model``)."""
        self.send(message)
        while True:
            reply = self._next(timeout, answer)
            kind = reply.WhichOneof("body")
            if kind == "task":
                self._tasks.append(reply.task)
                continue
            if kind != answer:
                raise StreamError(grpc.StatusCode.INTERNAL, f"expected {answer}, the server sent {kind}")
            return getattr(reply, answer)

    def send(self, message: pb.ClientMessage) -> None:
        if self.closed:
            raise StreamError(grpc.StatusCode.CANCELLED, "the task stream is closed")
        self._out.put(message)

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self._out.put(_END)
            self._call.cancel()
