"""The ``secagg authority`` command group: run the enrolment authority (on its own machine)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from .authority import (
    DEFAULT_CERT_DAYS,
    DEFAULT_CRL_DAYS,
    DEFAULT_ROOT_DAYS,
    DEFAULT_TOKEN_HOURS,
    Authority,
)


def add_authority_commands(sub: Any) -> None:
    """Add ``secagg authority {init,token,request,issue,revoke,crl,rotate,list}``."""
    top = sub.add_parser("authority", help="the enrolment authority that certifies client identity keys "
                                           "(run it apart from the server)")
    cmds = top.add_subparsers(dest="authority_command", required=True)

    def cmd(name: str, help_: str, handler: Any, *, needs_dir: bool = True) -> argparse.ArgumentParser:
        p = cmds.add_parser(name, help=help_)
        if needs_dir:
            p.add_argument("--dir", type=Path, required=True, help="the authority's directory")
        p.set_defaults(handler=handler)
        return p

    p = cmd("init", "make a new authority: a root key (kept, mode 600) and roots.pem", _init)
    p.add_argument("--name", default="secagg enrolment authority", help="the roots' common name")
    p.add_argument("--root-days", type=float, default=DEFAULT_ROOT_DAYS,
                   help=f"root certificate lifetime in days (default: {DEFAULT_ROOT_DAYS})")

    p = cmd("token", "make a one-time enrolment token (printed once; only its hash is kept)", _token)
    p.add_argument("--subject", default=None, help="only a request for this subject may use it")
    p.add_argument("--hours", type=float, default=DEFAULT_TOKEN_HOURS,
                   help=f"how long it may be used (default: {DEFAULT_TOKEN_HOURS:g})")
    p.add_argument("--out", type=Path, default=None, help="write it to this file (mode 600), not stdout")

    p = cmd("request", "ON THE DEVICE: write an enrolment request for its identity key", _request,
            needs_dir=False)
    p.add_argument("--state-dir", type=Path, required=True,
                   help="the client's state directory (its identity key is made there if missing)")
    p.add_argument("--subject", required=True, help="the device's name, put in its certificate")
    p.add_argument("--token-file", type=Path, default=None, help="the one-time token the operator gave")
    p.add_argument("--out", type=Path, required=True, help="the request file to send to the authority")

    p = cmd("issue", "certify an enrolment request (needs its token, or --approve)", _issue)
    p.add_argument("--request", type=Path, required=True)
    p.add_argument("--out", type=Path, required=True, help="the certificate (PEM) to return to the device")
    p.add_argument("--days", type=float, default=DEFAULT_CERT_DAYS,
                   help=f"certificate lifetime in days (default: {DEFAULT_CERT_DAYS})")
    p.add_argument("--approve", action="store_true",
                   help="issue without a token: you checked the request came from the device it names")

    p = cmd("revoke", "revoke a certificate (publish a new CRL afterwards)", _revoke)
    p.add_argument("--serial", required=True, help="hex serial number (secagg authority list)")
    p.add_argument("--reason", default="")

    p = cmd("crl", "write fresh signed CRLs (one per root) for the server to relay", _crl)
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--days", type=float, default=DEFAULT_CRL_DAYS,
                   help=f"until when clients accept them, in days (default: {DEFAULT_CRL_DAYS:g}); "
                        "publish a new one before")

    p = cmd("rotate", "add a new root; new certificates come from it, older ones stay valid", _rotate)
    p.add_argument("--root-days", type=float, default=DEFAULT_ROOT_DAYS)

    p = cmd("list", "issued certificates: serial, subject, expiry, approval, revoked", _list)
    p.add_argument("--json", action="store_true")


def _write(path: Path, data: bytes, mode: int = 0o644) -> None:
    from ..errors import EnrolmentError
    from .files import write_atomic

    try:
        write_atomic(path, data, mode)
    except OSError as exc:
        raise EnrolmentError(f"cannot write {path}: {exc.strerror}") from None


def _read(path: Path, what: str) -> bytes:
    from ..errors import EnrolmentError

    try:
        return path.read_bytes()
    except OSError as exc:
        raise EnrolmentError(f"cannot read the {what} {path}: {exc.strerror}") from None


def _init(args: argparse.Namespace) -> int:
    a = Authority.init(args.dir, name=args.name, root_days=args.root_days)
    print(f"authority made in {a.dir}; give {a.roots_path} to the server and every client "
          f"(keep {a.dir / 'keys'} secret and backed up)")
    return 0


def _token(args: argparse.Namespace) -> int:
    from ..errors import EnrolmentError

    if args.out is not None and args.out.exists():
        raise EnrolmentError(f"{args.out} exists; choose a new file for the token")
    token = Authority.open(args.dir).new_token(subject=args.subject, hours=args.hours)
    if args.out is None:
        print(token)
    else:
        _write(args.out, token.encode() + b"\n", 0o600)
        print(f"wrote a one-time token to {args.out}", file=sys.stderr)
    return 0


def _request(args: argparse.Namespace) -> int:
    from .auth import load_identity
    from .authority import make_request

    token = "" if args.token_file is None else _read(args.token_file, "token file").decode().strip()
    identity = load_identity(args.state_dir)
    _write(args.out, make_request(identity, args.subject, token), 0o600)  # holds the token until it is used
    print(f"wrote {args.out}: send it to the authority; put the certificate it returns at "
          f"{args.state_dir / 'identity.crt'}")
    return 0


def _issue(args: argparse.Namespace) -> int:
    a = Authority.open(args.dir)
    pem = a.issue(_read(args.request, "enrolment request"), approve=args.approve, days=args.days)
    _write(args.out, pem)
    print(f"wrote {args.out}")
    return 0


def _revoke(args: argparse.Namespace) -> int:
    info = Authority.open(args.dir).revoke(args.serial, reason=args.reason)
    print(f"revoked {args.serial} ({info['subject']}); publish a new CRL: secagg authority crl")
    return 0


def _crl(args: argparse.Namespace) -> int:
    _write(args.out, Authority.open(args.dir).crl(days=args.days))
    print(f"wrote {args.out}; copy it to the server's --authority-crl file")
    return 0


def _rotate(args: argparse.Namespace) -> int:
    a = Authority.open(args.dir)
    a.rotate(root_days=args.root_days)
    print(f"new root added to {a.roots_path}: give the new bundle to the server and every client")
    return 0


def _list(args: argparse.Namespace) -> int:
    rows = Authority.open(args.dir).listing()
    if args.json:
        print(json.dumps(rows, indent=2))
    else:
        for r in rows:
            print(f"{r['serial']}  {r['subject']:<24} until {r['not_after'][:10]}  {r['by']}"
                  f"{'  REVOKED' if r['revoked'] else ''}")
    return 0
