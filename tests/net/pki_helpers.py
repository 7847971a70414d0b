"""Helpers for the enrolment-authority tests: make an authority, enrol identities, DER certificates."""

from __future__ import annotations

import datetime
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import NameOID

from secagg.net.auth import ClientIdentity, load_identity
from secagg.net.authority import Authority, make_request


def der(pem: bytes) -> bytes:
    return x509.load_pem_x509_certificate(pem).public_bytes(Encoding.DER)


def enrol(authority: Authority, subject: str, identity: ClientIdentity | None = None, *,
          days: float = 90) -> tuple[ClientIdentity, bytes]:
    """A fresh (or given) identity and its certificate (DER), enrolled with a one-time token."""
    identity = identity or ClientIdentity()
    token = authority.new_token(subject=subject)
    return identity, der(authority.issue(make_request(identity, subject, token), days=days))


def enrol_state_dir(authority: Authority, state_dir: Path, subject: str) -> Path:
    """Enrol the identity of a client state directory; writes ``identity.crt`` there."""
    identity = load_identity(state_dir)
    token = authority.new_token(subject=subject)
    path = state_dir / "identity.crt"
    path.write_bytes(authority.issue(make_request(identity, subject, token)))
    return path


def backdated_certificate(authority: Authority, identity: ClientIdentity, subject: str,
                          start: datetime.datetime, end: datetime.datetime) -> bytes:
    """A certificate the authority's current root signed with the validity window [start, end]
    (e.g. one that has expired), DER."""
    root, key = authority._root(authority.state["current"])
    cert = (x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
            .issuer_name(root.subject).public_key(Ed25519PublicKey.from_public_bytes(identity.public))
            .serial_number(x509.random_serial_number()).not_valid_before(start).not_valid_after(end)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .sign(key, None))
    return cert.public_bytes(Encoding.DER)


def backdated_crl(authority: Authority, issued: datetime.datetime, next_update: datetime.datetime) -> bytes:
    """A correctly signed CRL of the current root, issued at ``issued`` (e.g. one gone stale), PEM."""
    root, key = authority._root(authority.state["current"])
    crl = (x509.CertificateRevocationListBuilder().issuer_name(root.subject).last_update(issued)
           .next_update(next_update).add_extension(x509.CRLNumber(1), critical=False).sign(key, None))
    return crl.public_bytes(Encoding.PEM)
