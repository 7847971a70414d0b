"""Options and handler of ``secagg status --server`` and the operations options of ``secagg
server`` (``--admin-token-file``, ``--metrics-address``). Imports nothing of gRPC at module level,
so ``secagg --help`` works without the ``[net]`` extra."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any


def add_operations_options(srv: argparse.ArgumentParser) -> None:
    srv.add_argument("--admin-token-file", type=Path, default=None,
                     help="admin token for `secagg status --server` (default: <db>.admin-token; made "
                          "with a random token, mode 0600, if missing)")
    srv.add_argument("--metrics-address", default=None, metavar="HOST:PORT",
                     help="serve Prometheus metrics on http://HOST:PORT/metrics (default: off; not "
                          "authenticated: bind it to loopback or a monitoring network)")


def add_status_options(st: argparse.ArgumentParser) -> None:
    where = st.add_mutually_exclusive_group(required=True)
    where.add_argument("--db", type=Path, help="summarise this server database (server running or not)")
    where.add_argument("--server", metavar="HOST:PORT", help="ask this running server (needs --ca and "
                       "--admin-token-file)")
    st.add_argument("--ca", type=Path, default=None, help="CA certificate that signed the server's")
    st.add_argument("--server-name", default=None, help="TLS name to expect (default: the host)")
    st.add_argument("--admin-token-file", type=Path, default=None,
                    help="the server's admin token file (secagg server --admin-token-file)")
    st.add_argument("--timeout", type=float, default=10.0, help="seconds to wait for the server")
    st.add_argument("--health", action="store_true",
                    help="health check: exit 0 if the server runs rounds, 1 with the reason if not")
    st.add_argument("--json", action="store_true", help="print JSON")


def admin_token(args: argparse.Namespace) -> Path:
    """The server's admin token file (--admin-token-file, default <db>.admin-token); the server
    reads it, or makes it once it holds the database lock."""
    from .admin_token import default_path

    return args.admin_token_file or default_path(args.db)


def remote_status(args: argparse.Namespace) -> int:
    """``secagg status --server``: print the live status; with --health, exit 0/1 on its health."""
    from ..errors import ConfigError, ServerUnavailableError
    from .admin_token import read
    from .remote_status import fetch_status, format_live

    if args.ca is None or args.admin_token_file is None:
        raise ConfigError("--server needs --ca (the CA that signed the server's certificate) and "
                          "--admin-token-file (the file the server wrote at start)")
    if args.timeout <= 0:
        raise ConfigError("--timeout must be > 0 seconds")
    token = read(args.admin_token_file)
    try:
        s: dict[str, Any] = fetch_status(args.server, ca=args.ca, token=token,
                                         server_name=args.server_name, timeout=args.timeout)
    except ServerUnavailableError as exc:
        if not args.health:
            raise
        print(f"unhealthy: {exc}", file=sys.stderr)
        return 1
    if args.health:
        print(json.dumps({"health": s["health"], "healthy": s["healthy"], "reason": s["reason"]})
              if args.json else f"{s['health']}: {s['reason']}")
        return 0 if s["healthy"] else 1
    print(json.dumps(s, indent=2) if args.json else format_live(s))
    return 0
