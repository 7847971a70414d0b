"""``NetServer``: the gRPC server process (TLS, authenticated clients, durable rounds).

One server per database and per port: the database's exclusive lock is taken before anything
else (:mod:`secagg.net.dblock`) and the port is bound without ``SO_REUSEPORT``, so a second server
is refused at start with a one-line reason instead of splitting the clients or failing later.
"""

from __future__ import annotations

import threading
import time
from concurrent import futures
from pathlib import Path
from typing import Any

import grpc

from ..errors import ConfigError
from . import logs
from .auth import RequestVerifier
from .certs import read_pem
from .coordinator import Coordinator
from .dblock import DatabaseLock
from .proto import secagg_net_pb2_grpc as pb_grpc
from .request_stats import RequestCounts
from .server_authority import ServerAuthority
from .service import AggregationService
from .settings import ServerSettings
from .store import Store


class NetServer:
    """Serve rounds on ``address`` (``host:port``; port 0 picks a free one, see :attr:`port`).

    ``cert``/``key`` are the server's PEM certificate chain and key. ``admin_token`` (bytes, or
    the path of a token file, made mode 0600 if missing) enables the ``Admin`` status service;
    ``metrics_address`` (``host:port``) the Prometheus endpoint (:mod:`secagg.net.metrics`). Raises
    :class:`~secagg.errors.DatabaseLockedError` if another server holds ``db`` and
    :class:`~secagg.errors.ConfigError` if ``address`` cannot be bound (e.g. in use). Rollback is
    an admin command on a stopped server (:func:`secagg.net.admin.rollback`).
    Enrolment is closed by default: give ``authority_roots`` (clients need a certificate from the
    enrolment authority; ``authority_crl`` is its CRL file, relayed to clients), an
    ``enroll_token``, or ``open_enrolment=True``.
    """

    def __init__(self, settings: ServerSettings, *, db: str | Path, cert: str | Path, key: str | Path,
                 address: str = "127.0.0.1:0", enroll_token: bytes | None = None,
                 logger: Any = None, max_workers: int | None = None, max_skew: float = 60.0,
                 engine: str = "aio", authority_roots: str | Path | None = None,
                 authority_crl: str | Path | None = None, open_enrolment: bool = False,
                 admin_token: bytes | Path | None = None, metrics_address: str | None = None) -> None:
        if engine not in ENGINES:
            raise ConfigError(f"engine must be one of {ENGINES}, got {engine!r}")
        if enroll_token is None and authority_roots is None and not open_enrolment:
            raise ConfigError("enrolment would be open to anyone: give the enrolment authority's roots "
                              "(authority_roots, --authority-roots), a shared enrolment token, or pass "
                              "open_enrolment=True (--insecure-open-enrolment) knowingly")
        if (authority_crl is None) != (authority_roots is None):
            raise ConfigError("give the authority's roots and its CRL file together (--authority-roots with "
                              "--authority-crl): clients refuse rounds without a fresh CRL")
        authority = None if authority_roots is None else ServerAuthority(authority_roots, authority_crl)
        self.settings = settings
        self.logger = logger or logs.get_logger("secagg.net.server")
        self.engine = engine
        self.requests = RequestCounts()
        self.metrics: Any = None
        self.started_at = time.time()
        self._bind(settings, cert, key, address, max_workers)  # before any file is touched
        self.store: Store | None = None
        try:
            self.lock = DatabaseLock(db)
        except BaseException:
            self.grpc.stop(None)
            raise
        try:
            self._setup(settings, db, enroll_token, max_skew, authority)
            self._operations(admin_token, metrics_address)
        except BaseException:
            self.grpc.stop(None)
            if self.store is not None:
                self.store.close()
            self.lock.release()
            raise
        if open_enrolment and enroll_token is None and authority is None:
            logs.log(self.logger, "open_enrolment", 30,
                     warning="anyone who reaches this server can register identities (insecure)")

    def _bind(self, settings: ServerSettings, cert: str | Path, key: str | Path, address: str,
              max_workers: int | None) -> None:
        """The gRPC server, bound to ``address`` (refused if taken: no SO_REUSEPORT)."""
        limit = settings.message_limit
        options = [("grpc.so_reuseport", 0),  # never share the port silently
                   # clients' keepalive pings on quiet task streams (every 30 s) are welcome
                   ("grpc.http2.min_ping_interval_without_data_ms", 10_000),
                   ("grpc.max_receive_message_length", limit),
                   ("grpc.max_send_message_length", max(limit, 4 * settings.vector_length + (1 << 20)))]
        if self.engine == "aio":
            from .aio import AioFrontEnd

            self.grpc: Any = AioFrontEnd(options, max(256, 8 * settings.clients_per_round),
                                         max_workers or 8, self.requests)
        else:
            workers = max_workers or max(16, 2 * settings.clients_per_round + 8)
            self.grpc = ThreadFrontEnd(grpc.server(futures.ThreadPoolExecutor(max_workers=workers),
                                                   maximum_concurrent_rpcs=4 * workers, options=options),
                                       self.requests)
        creds = grpc.ssl_server_credentials([(read_pem(key, "server key"), read_pem(cert, "server certificate"))])
        try:
            self.port = self.grpc.add_secure_port(address, creds)
        except RuntimeError:  # grpcio >= 1.60 raises when the address cannot be bound
            self.port = 0
        if self.port == 0:
            self.grpc.stop(None)
            raise ConfigError(f"cannot listen on {address}: the address is in use (another server?) "
                              "or not a local address; stop the other server or choose another "
                              "--address")
        self.host = address.rsplit(":", 1)[0]
        self._thread: threading.Thread | None = None

    def _setup(self, settings: ServerSettings, db: str | Path, enroll_token: bytes | None,
               max_skew: float, authority: ServerAuthority | None) -> None:
        self.store = Store(db, keep_versions=settings.keep_versions,
                           keep_round_sums=settings.keep_round_sums)
        # The coordinator checks the stored DP plan first: a refused start writes nothing.
        self.coordinator = Coordinator(settings, self.store, self.logger, enroll_token=enroll_token,
                                       authority=authority)
        if self.store.get_meta("model_shape") is None:
            self.store.set_meta("model_shape", [settings.n_items, settings.factors])
        self.store.set_meta("keep_versions", settings.keep_versions)  # what `secagg rollback` keeps
        run_id = self.store.get_meta("run_id")
        if run_id is None:
            import secrets

            run_id = secrets.token_hex(8)
            self.store.set_meta("run_id", run_id)
        self.coordinator.run_id = run_id
        self.service = AggregationService(
            self.coordinator, RequestVerifier(max_skew, counters=self.store), self.logger,
            settings.calls_per_client)
        self.grpc.add_service(self.service)

    def _operations(self, admin_token: bytes | Path | None, metrics_address: str | None) -> None:
        """The Admin service (with an admin token, or the path of its file: made there if missing)
        and the /metrics endpoint (with an address)."""
        if admin_token is not None:
            from .admin_service import AdminService
            from .admin_token import load_or_create

            if isinstance(admin_token, Path):
                admin_token = load_or_create(admin_token)

            self.grpc.add_admin(AdminService(admin_token, self.status, self.logger))
        if metrics_address is not None:
            from .metrics import MetricsServer, RoundHistory, ServerCollector

            assert self.store is not None
            self.metrics = MetricsServer(metrics_address, ServerCollector(
                self.status, RoundHistory(self.store), self.requests))
            logs.log(self.logger, "metrics_listening", port=self.metrics.port)

    def status(self) -> dict[str, Any]:
        """The live status (:func:`secagg.net.live_status.live_status`)."""
        from .._version import __version__
        from .live_status import live_status

        assert self.store is not None
        return live_status(self.coordinator, self.store, started_at=self.started_at,
                           round_thread_alive=self._thread is not None and self._thread.is_alive(),
                           version=__version__)

    def start(self, rounds: int | None = None) -> NetServer:
        """Start serving and run rounds in a background thread (until ``rounds`` are recorded)."""
        self.grpc.start()
        logs.log(self.logger, "server_started", port=self.port, last_round=self.coordinator.round,
                 version=self.coordinator.current.version)
        self._thread = threading.Thread(target=self.coordinator.run, args=(rounds,), daemon=True,
                                        name="secagg-rounds")
        self._thread.start()
        return self

    def wait(self, timeout: float | None = None) -> bool:
        """Wait for the round thread to finish; True if it did."""
        assert self._thread is not None
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def tell_clients_the_end(self, timeout: float | None = None) -> set[int]:
        """After the run ended, keep serving until every online client has been told so (their
        next poll gets an END task), for at most ``timeout`` seconds (default: the liveness
        window, at least 30 s; it returns as soon as every online client has been told). Returns
        the clients not told (they notice the server is gone and retry)."""
        limit = max(self.settings.liveness_timeout, 30.0) if timeout is None else timeout
        end = time.monotonic() + limit
        while self.coordinator.ended is not None and time.monotonic() < end:
            if not self.coordinator.clients_not_told():
                break
            time.sleep(0.05)
        return self.coordinator.clients_not_told()

    def stop(self, grace: float = 1.0) -> None:
        self.coordinator.stop()
        if self._thread is not None:
            self._thread.join(5.0)
        self.grpc.stop(grace)
        if self.metrics is not None:
            self.metrics.stop()
        assert self.store is not None
        self.store.close()
        self.lock.release()
        logs.log(self.logger, "server_stopped", last_round=self.coordinator.round)


ENGINES = ("aio", "threads")


class ThreadFrontEnd:
    """The thread-pool gRPC server (each waiting client holds a thread), as :class:`AioFrontEnd`."""

    def __init__(self, server: grpc.Server, counts: RequestCounts) -> None:
        self.server = server
        self.counts = counts

    def add_secure_port(self, address: str, creds: grpc.ServerCredentials) -> int:
        return self.server.add_secure_port(address, creds)

    def add_service(self, service: AggregationService) -> None:
        pb_grpc.add_AggregationServicer_to_server(_Counted(service, self.counts), self.server)

    def add_admin(self, admin: Any) -> None:
        pb_grpc.add_AdminServicer_to_server(admin, self.server)

    def start(self) -> None:
        self.server.start()

    def stop(self, grace: float | None) -> None:
        self.server.stop(grace).wait((grace or 0.0) + 1.0)


class _Counted(pb_grpc.AggregationServicer):
    """The servicer, counting each finished call by method and status (thread-pool front end)."""

    def __init__(self, service: AggregationService, counts: RequestCounts) -> None:
        self.service, self.counts = service, counts

    def _count(self, method: str, request: Any, context: grpc.ServicerContext) -> Any:
        try:
            reply = getattr(self.service, method)(request, context)
        except BaseException:
            code = context.code() if hasattr(context, "code") else None
            self.counts.add(method, code.name if isinstance(code, grpc.StatusCode) else "UNKNOWN")
            raise
        self.counts.add(method, "OK")
        return reply

    def Register(self, request: Any, context: grpc.ServicerContext) -> Any:
        return self._count("Register", request, context)

    def GetTask(self, request: Any, context: grpc.ServicerContext) -> Any:
        return self._count("GetTask", request, context)

    def Submit(self, request: Any, context: grpc.ServicerContext) -> Any:
        return self._count("Submit", request, context)

    def GetModel(self, request: Any, context: grpc.ServicerContext) -> Any:
        return self._count("GetModel", request, context)
