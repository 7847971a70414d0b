"""The admin token: the credential of ``secagg status --server``, separate from client identities.

The server reads it from a file, or makes a random one there (mode 0600) at its first start; the
operator gives the same file to ``secagg status``. It is compared in constant time.
"""

from __future__ import annotations

import hmac
import os
import secrets
import stat
from pathlib import Path

from ..errors import ConfigError
from .files import create_private

MIN_LENGTH = 16


def default_path(db: str | Path) -> Path:
    """``<db>.admin-token``, beside the database."""
    p = Path(db)
    return p.with_name(p.name + ".admin-token")


def load_or_create(path: str | Path) -> bytes:
    """The token in ``path``; a new random one (256 bits, URL-safe text) written there mode 0600 if
    the file is missing. Refuses a token file others may read, or a token shorter than 16 bytes."""
    p = Path(path)
    if not p.exists():
        token = secrets.token_urlsafe(32).encode()
        create_private(p)
        fd = os.open(p, os.O_WRONLY | os.O_TRUNC)
        try:
            os.write(fd, token + b"\n")
        finally:
            os.close(fd)
        return token
    return read(p)


def read(path: str | Path) -> bytes:
    """The token in ``path`` (whitespace stripped); ConfigError if unreadable, shared or short."""
    p = Path(path)
    try:
        mode = stat.S_IMODE(p.stat().st_mode)
        token = p.read_bytes().strip()
    except OSError as exc:
        raise ConfigError(f"cannot read the admin token file {p}: {exc.strerror}") from None
    if mode & 0o077:
        raise ConfigError(f"the admin token file {p} is readable by others (mode {mode:o}); "
                          f"run `chmod 600 {p}`")
    if len(token) < MIN_LENGTH:
        raise ConfigError(f"the admin token in {p} is shorter than {MIN_LENGTH} characters; delete the "
                          "file and restart the server to make a new one")
    return token


def matches(expected: bytes, given: bytes) -> bool:
    """Constant-time comparison of the presented token with the server's."""
    return hmac.compare_digest(expected, given)
