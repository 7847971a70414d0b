"""Networked deployment: a gRPC server and clients that run SecAgg(+) training rounds over TLS.

* :class:`NetServer` drives rounds with per-stage deadlines, authenticates every request with the
  clients' registered Ed25519 keys, keeps model versions and round results in SQLite (resumes after
  a crash, never records a round twice); one server per database and port.
* :class:`NetClient` registers, trains locally, runs the protocol, reconnects with back-off.
* :class:`~secagg.net.authority.Authority` (``secagg authority``) is the enrolment authority, run
  apart from the server: it certifies clients' identity keys, and clients check every peer's
  certificate (:mod:`secagg.net.pki`) so the server cannot introduce identities.
* :func:`make_certificates` makes a TLS CA + server certificate for tests and private deployments.

From the command line (``secagg <command> --help`` lists every option)::

    secagg certs --out tls --host localhost --host 127.0.0.1
    secagg authority init --dir authority          # then token / request / issue per device, and crl
    secagg server --db run.db --cert tls/server.pem --key tls/server.key --address 127.0.0.1:50051 \
        --authority-roots authority/roots.pem --authority-crl crl.pem \
        --clients-per-round 20 --rounds 30 --log-file server.jsonl
    secagg client --server 127.0.0.1:50051 --ca tls/ca.pem --authority-roots authority/roots.pem \
        --state-dir dev0 --user 0   # one per device, enrolled: dev0/identity.crt
    secagg status --db run.db
    secagg rollback --db run.db --to 7     # server stopped: republish kept model version 7

Needs the ``[net]`` extra (``pip install "secagg[net]"``). Wire messages: ``proto/secagg_net.proto``
(the generated ``*_pb2*.py`` are checked in; the command that regenerates them is at its top).
"""

from __future__ import annotations

from typing import Any

__all__ = ["NetClient", "NetServer", "RecTrainer", "ServerSettings", "make_certificates", "summary"]

_WHERE = {"NetClient": ".client", "NetServer": ".server", "RecTrainer": ".trainer",
          "ServerSettings": ".settings", "make_certificates": ".certs", "summary": ".status"}


def __getattr__(name: str) -> Any:
    """Import lazily, so ``secagg.net.cli`` loads without grpc and says how to install it."""
    if name not in _WHERE:
        raise AttributeError(name)
    import importlib

    try:
        import grpc  # noqa: F401
    except ImportError as exc:  # pragma: no cover - depends on the environment
        from ..errors import DependencyError

        raise DependencyError('secagg.net needs grpcio and protobuf: pip install "secagg[net]"') from exc
    return getattr(importlib.import_module(_WHERE[name], __name__), name)
