"""``NetServer``: the gRPC server process (TLS, authenticated clients, durable rounds)."""

from __future__ import annotations

import threading
from concurrent import futures
from pathlib import Path
from typing import Any

import grpc

from ..errors import ConfigError
from . import logs
from .auth import RequestVerifier
from .certs import read_pem
from .coordinator import Coordinator
from .proto import secagg_net_pb2_grpc as pb_grpc
from .server_authority import ServerAuthority
from .service import AggregationService
from .settings import ServerSettings
from .store import Store


class NetServer:
    """Serve rounds on ``address`` (``host:port``; port 0 picks a free one, see :attr:`port`).

    ``cert``/``key`` are the server's PEM certificate chain and key. ``rollback_to`` republishes a
    kept model version before serving (recorded in the database's events and in the log).
    Enrolment is closed by default: give ``authority_roots`` (clients need a certificate from the
    enrolment authority; ``authority_crl`` is its CRL file, relayed to clients), an
    ``enroll_token``, or ``open_enrolment=True``.
    """

    def __init__(self, settings: ServerSettings, *, db: str | Path, cert: str | Path, key: str | Path,
                 address: str = "127.0.0.1:0", enroll_token: bytes | None = None,
                 rollback_to: int | None = None, logger: Any = None, max_workers: int | None = None,
                 max_skew: float = 60.0, authority_roots: str | Path | None = None,
                 authority_crl: str | Path | None = None, open_enrolment: bool = False) -> None:
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
        self.store = Store(db, keep_versions=settings.keep_versions)
        saved = self.store.get_meta("model_shape")
        if saved is None:
            self.store.set_meta("model_shape", [settings.n_items, settings.factors])
        if rollback_to is not None:
            self._rollback(rollback_to)
        self.coordinator = Coordinator(settings, self.store, self.logger, enroll_token=enroll_token,
                                       authority=authority)
        if open_enrolment and enroll_token is None and authority is None:
            logs.log(self.logger, "open_enrolment", 30,
                     warning="anyone who reaches this server can register identities (insecure)")
        run_id = self.store.get_meta("run_id")
        if run_id is None:
            import secrets

            run_id = secrets.token_hex(8)
            self.store.set_meta("run_id", run_id)
        self.coordinator.run_id = run_id
        workers = max_workers or max(16, 2 * settings.clients_per_round + 8)
        limit = settings.message_limit
        self.grpc = grpc.server(futures.ThreadPoolExecutor(max_workers=workers),
                                maximum_concurrent_rpcs=4 * workers,
                                options=[("grpc.max_receive_message_length", limit),
                                         ("grpc.max_send_message_length",
                                          max(limit, 4 * settings.vector_length + (1 << 20)))])
        pb_grpc.add_AggregationServicer_to_server(
            AggregationService(self.coordinator, RequestVerifier(max_skew, counters=self.store),
                               self.logger), self.grpc)
        creds = grpc.ssl_server_credentials([(read_pem(key, "server key"), read_pem(cert, "server certificate"))])
        self.port = self.grpc.add_secure_port(address, creds)
        if self.port == 0:
            raise ConfigError(f"cannot listen on {address}")
        self.host = address.rsplit(":", 1)[0]
        self._thread: threading.Thread | None = None

    def _rollback(self, version: int) -> None:
        latest = self.store.latest_version()
        if latest is None:
            raise ConfigError("nothing to roll back: the database has no model yet")
        mv = self.store.rollback(version, latest[0].version + 1, self.store.last_round())
        logs.log(self.logger, "rollback", to_version=version, new_version=mv.version, hash=mv.hash)

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

    def stop(self, grace: float = 1.0) -> None:
        self.coordinator.stop()
        if self._thread is not None:
            self._thread.join(5.0)
        self.grpc.stop(grace).wait(grace + 1.0)
        self.store.close()
        logs.log(self.logger, "server_stopped", last_round=self.coordinator.round)
