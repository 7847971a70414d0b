"""The ``Admin`` gRPC service: the live status of the server for ``secagg status --server``.

Authenticated by the admin token (:mod:`secagg.net.admin_token`), never by a client identity: a
call without a token is refused ``UNAUTHENTICATED``, one with a wrong token ``PERMISSION_DENIED``
(compared in constant time; both logged, without the token). It serves over the same TLS port as
the clients' service.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from concurrent.futures import Executor
from typing import Any

import grpc

from . import logs
from .admin_token import matches
from .proto import secagg_net_pb2 as pb
from .proto import secagg_net_pb2_grpc as pb_grpc


class AdminService(pb_grpc.AdminServicer):
    """``status`` returns the live status dict; ``token`` is the server's admin token."""

    def __init__(self, token: bytes, status: Callable[[], dict[str, Any]], logger: Any) -> None:
        self.token = token
        self.status = status
        self.logger = logger

    def check(self, request: pb.StatusRequest) -> tuple[grpc.StatusCode, str] | None:
        """None if the request carries the admin token, else the refusal (code, message)."""
        given = bytes(request.admin_token)
        if not given:
            return grpc.StatusCode.UNAUTHENTICATED, ("no admin token: pass the server's admin token "
                                                     "file with --admin-token-file")
        if not matches(self.token, given):
            return grpc.StatusCode.PERMISSION_DENIED, ("wrong admin token: use the file the server "
                                                       "wrote (--admin-token-file of secagg server)")
        return None

    def _status_reply(self, request: pb.StatusRequest, peer: str) -> tuple[Any, tuple | None]:
        refused = self.check(request)
        if refused is not None:
            logs.log(self.logger, "admin_refused", 30, method="GetStatus", status=refused[0].name,
                     peer=peer)
            return None, refused
        return pb.StatusReply(status_json=json.dumps(self.status(), default=str)), None

    def GetStatus(self, request: pb.StatusRequest, context: grpc.ServicerContext) -> pb.StatusReply:
        reply, refused = self._status_reply(request, context.peer())
        if refused is not None:
            context.abort(*refused)
        return reply


class AsyncAdminService(pb_grpc.AdminServicer):
    """:class:`AdminService` for the asyncio front end: the work runs on ``pool``."""

    def __init__(self, sync: AdminService, pool: Executor) -> None:
        self.sync = sync
        self.pool = pool

    async def GetStatus(self, request: pb.StatusRequest, context: grpc.aio.ServicerContext) -> Any:
        loop = asyncio.get_running_loop()
        reply, refused = await loop.run_in_executor(self.pool, self.sync._status_reply, request,
                                                    context.peer())
        if refused is not None:
            await context.abort(*refused)
        return reply
