"""The ``secagg server``, ``secagg client``, ``secagg status``, ``secagg rollback`` and
``secagg certs`` commands (``secagg authority`` is in :mod:`.authority_cli`).

Exit codes: 0 the run ended as planned (server: ``--rounds`` rounds completed; client: the server
announced the end, or ``--max-rounds``/a signal stopped it); 1 the run failed (server: no round
completed, too many rounds aborted in a row, or the database failed); 2 a usage or configuration
error, refused before any work (one line on stderr); 3 (client) ``--max-seconds`` passed before
the run ended.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from pathlib import Path
from typing import Any

from ..errors import PrivacyError
from ..rec.options import add_model_options, add_training_options, dp_config, local_config, server_lr, wants_dp
from .status_command import add_operations_options, add_status_options, admin_token


def _stage_hook(text: str) -> tuple[int, int]:
    """ROUND:STAGE, STAGE a stage name (e.g. 1:SHARE_KEYS) or number (tests only)."""
    from ..protocol.stage import Stage

    try:
        r, s = text.split(":")
        return int(r), int(Stage[s]) if s in Stage.__members__ else int(Stage(int(s)))
    except (ValueError, KeyError):
        raise argparse.ArgumentTypeError(f"expected ROUND:STAGE, got {text!r}") from None


def add_net_commands(sub: Any) -> None:
    """Add the networked-deployment subcommands to the ``secagg`` parser's subparsers."""
    srv = sub.add_parser("server", help="serve federated SecAgg+ training rounds over gRPC + TLS")
    srv.add_argument("--db", type=Path, required=True, help="SQLite state file (created if missing)")
    srv.add_argument("--cert", type=Path, required=True, help="server certificate chain (PEM)")
    srv.add_argument("--key", type=Path, required=True, help="server private key (PEM)")
    srv.add_argument("--address", default="127.0.0.1:50051",
                     help="host:port to listen on; port 0 picks a free one (default: 127.0.0.1:50051)")
    srv.add_argument("--port-file", type=Path, default=None, help="write the bound port here")
    srv.add_argument("--data", default="synthetic", help="data set whose item count sizes the model")
    srv.add_argument("--data-seed", type=int, default=0)
    srv.add_argument("--n-items", type=int, default=None, help="model size (instead of --data)")
    srv.add_argument("--rounds", type=int, default=None,
                     help="end the run once this many rounds have COMPLETED in total (aborted rounds do "
                          "not count; default: serve until stopped)")
    srv.add_argument("--max-aborted-rounds", type=int, default=10,
                     help="end the run as failed (exit 1) after this many aborted rounds in a row")
    add_training_options(srv)  # --factors, --clients-per-round, --local-epochs, ..., the DP options
    srv.add_argument("--dp-num-users", type=int, default=None,
                     help="population size for DP accounting (sampling rate = clients per round / this)")
    srv.add_argument("--min-clients", type=int, default=3)
    srv.add_argument("--protocol", choices=["secagg", "secagg+"], default="secagg+")
    srv.add_argument("--threat-model", choices=["honest-but-curious", "active"], default="active")
    srv.add_argument("--dropout-fraction", type=float, default=0.3)
    srv.add_argument("--corrupt-fraction", type=float, default=0.05)
    srv.add_argument("--stage-timeout", type=float, default=10.0,
                     help="base seconds per protocol stage (plus --timeout-per-client per sampled client)")
    srv.add_argument("--training-timeout", type=float, default=30.0,
                     help="base seconds for the first stage, which includes local training")
    srv.add_argument("--timeout-per-client", type=float, default=0.05,
                     help="seconds added to every stage's deadline per sampled client (default: 0.05, "
                          "so 400 clients get 10 + 20 s per stage)")
    srv.add_argument("--liveness-timeout", type=float, default=10.0,
                     help="a client silent this long while owing a reply counts as dropped")
    srv.add_argument("--keep-versions", type=int, default=5, help="model versions kept for rollback")
    srv.add_argument("--keep-round-sums", type=int, default=None, metavar="N",
                     help="rounds whose aggregate (sum) the database keeps; older rounds keep their "
                          "record only (default: as many as --keep-versions; 0: none)")
    srv.add_argument("--enroll-token-file", type=Path, default=None,
                     help="clients must present this file's contents to register")
    srv.add_argument("--calls-per-client", type=int, default=4,
                     help="calls one client may have in flight at once; more are refused (default: 4)")
    srv.add_argument("--engine", choices=["aio", "threads"], default="aio",
                     help="aio: asyncio gRPC server, waiting clients hold no thread (default); threads: "
                          "a thread pool where each waiting client holds a thread")
    srv.add_argument("--authority-roots", type=Path, default=None,
                     help="the enrolment authority's roots.pem: only clients it certified may register")
    srv.add_argument("--authority-crl", type=Path, default=None,
                     help="the authority's latest CRL file (secagg authority crl), re-read every round and "
                          "relayed to clients, who refuse rounds without a fresh one")
    srv.add_argument("--insecure-open-enrolment", action="store_true",
                     help="let anyone who reaches the server register identities (no token, no authority)")
    srv.add_argument("--max-workers", type=int, default=None,
                     help="worker threads (aio default: 8; threads default: 2 x clients per round + 8, each "
                          "waiting client holding one)")
    srv.add_argument("--log-file", type=Path, default=None, help="JSON-lines log (default: stderr)")
    add_operations_options(srv)
    srv.set_defaults(handler=_server)

    cli = sub.add_parser("client", help="a federated client: train locally, aggregate securely")
    cli.add_argument("--server", required=True, help="host:port of the server")
    cli.add_argument("--ca", type=Path, required=True, help="CA certificate that signed the server's")
    cli.add_argument("--server-name", default=None, help="TLS name to expect (default: the host)")
    cli.add_argument("--state-dir", type=Path, required=True, help="identity key and client state")
    cli.add_argument("--data", default="synthetic")
    cli.add_argument("--data-seed", type=int, default=0)
    cli.add_argument("--user", type=int, required=True, help="whose interactions this device holds")
    add_model_options(cli)  # the same --factors as the server's
    cli.add_argument("--enroll-token-file", type=Path, default=None)
    cli.add_argument("--authority-roots", type=Path, default=None,
                     help="the enrolment authority's roots.pem, pinned: every peer of a round must hold a "
                          "certificate from it, or this client refuses the round")
    cli.add_argument("--certificate", type=Path, default=None,
                     help="this device's certificate (default: STATE_DIR/identity.crt)")
    cli.add_argument("--max-crl-age", type=float, default=72.0, metavar="HOURS",
                     help="refuse rounds whose relayed CRL is older than this (default: 72)")
    cli.add_argument("--insecure-trust-server-keys", action="store_true",
                     help="without --authority-roots: accept whatever peer keys the server sends "
                          "(a malicious server can then fill a round with identities it holds)")
    cli.add_argument("--max-rounds", type=int, default=None, help="exit after completing this many rounds")
    cli.add_argument("--max-seconds", type=float, default=None, help="exit after this long")
    cli.add_argument("--poll-wait", type=float, default=5.0,
                     help="long-poll seconds (default 5; keep it below the server's --liveness-timeout)")
    cli.add_argument("--transport", choices=("stream", "unary"), default="stream",
                     help="stream (default): one task stream to the server, tasks pushed; unary: a call per "
                          "task poll, reply and model download (the client falls back to it by itself "
                          "when the server has no task stream)")
    cli.add_argument("--log-file", type=Path, default=None)
    cli.add_argument("--corrupt-fraction", type=float, default=0.05,
                     help="fraction of the cohort this device assumes may collude with the server: it refuses "
                          "sessions whose threshold is unsafe under that (default: 0.05)")
    cli.add_argument("--dp-min-noise-multiplier", type=float, default=None, metavar="Z",
                     help="take part only in distributed-DP rounds whose noise, counted over the contributors this "
                          "device can rely on (less --corrupt-fraction colluders), is at least Z x the sensitivity; "
                          "refuse rounds without DP noise (default: no floor)")
    cli.add_argument("--accept-honest-but-curious", action="store_true",
                     help="also take part in honest-but-curious sessions, private only if the server follows "
                          "the protocol (default: refuse them)")
    cli.add_argument("--exit-at", type=_stage_hook, action="append", default=[], help=argparse.SUPPRESS)
    cli.add_argument("--exit-after", type=_stage_hook, action="append", default=[], help=argparse.SUPPRESS)
    cli.set_defaults(handler=_client)

    st = sub.add_parser("status", help="a server's health, round in progress, clients, rounds (--server), "
                                       "or its database's summary (--db)")
    add_status_options(st)
    st.set_defaults(handler=_status)

    rb = sub.add_parser("rollback", help="republish a kept model version (server stopped; recorded in the db)")
    rb.add_argument("--db", type=Path, required=True, help="the server's SQLite state file")
    rb.add_argument("--to", type=int, required=True, metavar="VERSION",
                    help="kept model version to republish (see `secagg status`)")
    rb.set_defaults(handler=_rollback)

    ce = sub.add_parser("certs", help="make a CA and a server certificate (tests, private deployments)")
    ce.add_argument("--out", type=Path, required=True)
    ce.add_argument("--host", action="append", default=None,
                    help="DNS name or IP of the server (repeatable; default: localhost, 127.0.0.1)")
    ce.add_argument("--days", type=int, default=30,
                    help="lifetime of the CA and server certificates in days (default: 30); the CA key is "
                         "a throwaway, never written, so make a new set before they expire")
    ce.set_defaults(handler=_certs)

    from .authority_cli import add_authority_commands

    add_authority_commands(sub)


def _token(path: Path | None) -> bytes | None:
    if path is None:
        return None
    from ..errors import ConfigError

    try:
        return path.read_bytes().strip()
    except OSError as exc:
        raise ConfigError(f"cannot read the enrolment token file {path}: {exc.strerror}") from None


def _need_grpc() -> None:
    try:
        import grpc  # noqa: F401
        from google import protobuf  # noqa: F401
    except ImportError:
        from ..errors import DependencyError

        raise DependencyError('the server and client need grpcio and protobuf: '
                              'pip install "secagg[net]"') from None


def _server(args: argparse.Namespace) -> int:
    _need_grpc()
    from ..errors import ConfigError
    from . import logs
    from .server import NetServer

    if args.enroll_token_file is None and args.authority_roots is None and not args.insecure_open_enrolment:
        raise ConfigError("enrolment would be open to anyone: give --authority-roots (clients certified by the "
                          "enrolment authority), --enroll-token-file, or --insecure-open-enrolment knowingly")
    from .settings import ServerSettings
    from .trainer import dataset_items

    n_items = args.n_items if args.n_items is not None else dataset_items(args.data, args.data_seed)
    dp = None
    if wants_dp(args):
        if args.rounds is None or args.dp_num_users is None:
            raise PrivacyError("distributed DP needs --rounds and --dp-num-users for its accounting")
        dp = dp_config(args, num_users=args.dp_num_users, rounds=args.rounds)
    settings = ServerSettings(
        n_items=n_items, factors=args.factors, clients_per_round=args.clients_per_round,
        min_clients=args.min_clients, protocol=args.protocol, threat_model=args.threat_model,
        corrupt_fraction=args.corrupt_fraction, dropout_fraction=args.dropout_fraction,
        quantization_range=args.quantization_range,
        training=local_config(args), server_optimizer=args.server_optimizer,
        server_lr=server_lr(args, args.clients_per_round),
        stage_timeout=args.stage_timeout, training_timeout=args.training_timeout,
        liveness_timeout=args.liveness_timeout, seed=args.seed, keep_versions=args.keep_versions,
        keep_round_sums=args.keep_round_sums, timeout_per_client=args.timeout_per_client,
        max_aborted_rounds=args.max_aborted_rounds, calls_per_client=args.calls_per_client, dp=dp)
    if args.rounds is not None and args.rounds < 1:
        from ..errors import ConfigError

        raise ConfigError("--rounds must be >= 1")
    logger = logs.get_logger("secagg.net.server", path=args.log_file)
    from .profiling import from_environment

    profile = from_environment()  # SECAGG_PROFILE=FILE: cProfile of every thread, written at stop
    server = NetServer(settings, db=args.db, cert=args.cert, key=args.key, address=args.address,
                       enroll_token=_token(args.enroll_token_file), logger=logger,
                       max_workers=args.max_workers, engine=args.engine,
                       authority_roots=args.authority_roots, authority_crl=args.authority_crl,
                       open_enrolment=args.insecure_open_enrolment,
                       admin_token=admin_token(args), metrics_address=args.metrics_address)
    done = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: done.set())
    server.start(rounds=args.rounds)
    if args.port_file is not None:
        tmp = args.port_file.with_suffix(".tmp")
        tmp.write_text(str(server.port))
        tmp.replace(args.port_file)
    print(f"secagg server listening on port {server.port}", file=sys.stderr, flush=True)
    while not done.is_set() and not server.wait(0.2):
        pass
    co = server.coordinator
    if co.ended is not None and not done.is_set():
        server.tell_clients_the_end()
    server.stop()
    if profile is not None:
        profile.dump()
    total = co.completed_here
    if co.error is not None:
        print(f"secagg server: the run failed: {co.error}", file=sys.stderr)
        return 1
    if co.ended is not None:
        print(f"secagg server: {co.ended} ({total} completed by this process)", file=sys.stderr)
        return 0
    if total == 0:
        print("secagg server: stopped before any round completed"
              + (f" (last abort: {co.last_abort_reason})" if co.last_abort_reason else ""),
              file=sys.stderr)
        return 1
    print(f"secagg server: stopped after {total} completed rounds", file=sys.stderr)
    return 0


def build_client(args: argparse.Namespace, **options: Any) -> Any:
    """The NetClient the ``secagg client`` options describe (``options`` go to NetClient as they are)."""
    _need_grpc()
    if args.authority_roots is None and not args.insecure_trust_server_keys:
        from ..errors import ConfigError

        raise ConfigError("give --authority-roots (the enrolment authority's roots.pem) so this client can check "
                          "its peers, or --insecure-trust-server-keys knowingly")
    from ..protocol.policy import ClientPolicy
    from . import logs
    from .client import NetClient, require_enrolled

    if args.authority_roots is not None:
        require_enrolled(args.state_dir, args.certificate)
    from .trainer import RecTrainer

    trainer = RecTrainer.from_dataset(args.data, args.user, factors=args.factors, data_seed=args.data_seed)
    logger = logs.get_logger("secagg.net.client", path=args.log_file)
    return NetClient(args.server, ca=args.ca, state_dir=args.state_dir, trainer=trainer,
                     enroll_token=_token(args.enroll_token_file) or b"", server_name=args.server_name,
                     logger=logger, poll_wait=args.poll_wait, exit_at=dict(args.exit_at),
                     exit_after=dict(args.exit_after),
                     policy=ClientPolicy(args.corrupt_fraction, require_active=not args.accept_honest_but_curious,
                                         min_noise_multiplier=args.dp_min_noise_multiplier),
                     authority_roots=args.authority_roots, certificate=args.certificate,
                     max_crl_age=args.max_crl_age * 3600.0, trust_server_keys=args.insecure_trust_server_keys,
                     transport=args.transport, **options)


def _client(args: argparse.Namespace) -> int:
    return run_client(build_client(args), args)


def run_client(client: Any, args: argparse.Namespace) -> int:
    """Run a built client until the server ends the run, ``--max-rounds`` / ``--max-seconds`` or a
    signal; the exit code says which (see the module docstring)."""
    signalled = threading.Event()

    def on_signal(*_: Any) -> None:
        signalled.set()
        client.stop()

    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, on_signal)
    try:
        done = client.run(max_rounds=args.max_rounds, max_seconds=args.max_seconds)
    finally:
        client.close()
    who = f"secagg client {client.client_id}"
    if client.ended is not None:
        print(f"{who}: the server ended the run ({client.ended}); this client completed {done} rounds",
              file=sys.stderr)
        return 0
    if signalled.is_set() or (args.max_rounds is not None and done >= args.max_rounds):
        print(f"{who}: stopped; {done} rounds completed", file=sys.stderr)
        return 0
    print(f"{who}: --max-seconds passed before the run ended; {done} rounds completed", file=sys.stderr)
    return 3


def _status(args: argparse.Namespace) -> int:
    if args.server is not None:
        _need_grpc()
        from .status_command import remote_status

        return remote_status(args)
    if args.health:
        from ..errors import ConfigError

        raise ConfigError("--health asks a running server: use it with --server ADDR (not --db)")
    from .status import format_summary, summary

    s = summary(args.db)
    print(json.dumps(s, indent=2, default=str) if args.json else format_summary(s))
    return 0


def _rollback(args: argparse.Namespace) -> int:
    from .admin import rollback

    mv = rollback(args.db, args.to)
    print(f"republished model version {args.to} as version {mv.version} (hash {mv.hash}); "
          "the next server start trains from it")
    return 0


def _certs(args: argparse.Namespace) -> int:
    from ..errors import ConfigError
    from .certs import make_certificates

    if not 1 <= args.days <= 3650:
        raise ConfigError(f"--days must be in [1, 3650], got {args.days}")
    paths = make_certificates(args.out, tuple(args.host or ("localhost", "127.0.0.1")), days=args.days)
    print(f"wrote {paths.ca}, {paths.cert}, {paths.key} (valid {args.days} days; the CA key was not kept)")
    return 0
