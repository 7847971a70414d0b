"""Checking identity certificates of the enrolment authority (issuing them is :mod:`.authority`).

A certificate is X.509 (made and parsed by ``cryptography``): an Ed25519 root, kept by the
authority, signs a leaf whose subject public key is a client's Ed25519 identity key and whose
common name is the client's subject name. :class:`TrustAnchors` holds the pinned root bundle
(several roots while one is being rotated out); :meth:`TrustAnchors.verify_peers` is what a client
runs on the server's peer list before it trains or sends anything: every peer key must come with
a certificate for exactly that key, issued by a pinned root, inside its validity window, and not
revoked per a CRL of that root that is fresh (``this_update`` at most ``max_crl_age`` old, before
its ``next_update``, and numbered no lower than the newest CRL this client has already seen).
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from ..errors import CertificateError, ConfigError

CLOCK_SKEW = datetime.timedelta(minutes=5)
_CRL_PEM = re.compile(rb"-----BEGIN X509 CRL-----.+?-----END X509 CRL-----", re.S)


def utcnow() -> datetime.datetime:
    return datetime.datetime.now(datetime.timezone.utc)


def fingerprint(cert: x509.Certificate) -> str:
    """SHA-256 of the certificate (hex), how roots are named in logs and client state."""
    return cert.fingerprint(hashes.SHA256()).hex()


def raw_public_key(cert: x509.Certificate) -> bytes:
    key = cert.public_key()
    if not isinstance(key, Ed25519PublicKey):
        raise CertificateError("the certificate's key is not an Ed25519 key")
    return key.public_bytes(Encoding.Raw, PublicFormat.Raw)


def subject_name(cert: x509.Certificate) -> str:
    names = cert.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)
    if len(names) != 1:
        raise CertificateError("the certificate's subject has no single common name")
    return str(names[0].value)


def split_crls(pem: bytes) -> list[x509.CertificateRevocationList]:
    """Every CRL in a PEM bundle (one per root)."""
    out = []
    for block in _CRL_PEM.findall(pem):
        try:
            out.append(x509.load_pem_x509_crl(block))
        except ValueError:
            raise CertificateError("a revocation list in the bundle is not a valid X.509 CRL") from None
    return out


def crl_number(crl: x509.CertificateRevocationList) -> int:
    try:
        return int(crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number)
    except x509.ExtensionNotFound:
        raise CertificateError("the revocation list carries no CRL number") from None


@dataclass(frozen=True)
class PeerIdentity:
    """What a verified certificate says: the subject, its serial number and the issuing root."""

    subject: str
    serial: int
    root: str  # fingerprint of the issuing root
    not_after: datetime.datetime


@dataclass(frozen=True)
class Revocations:
    """Fresh, verified CRLs: per root fingerprint, the revoked serials and the CRL number."""

    revoked: Mapping[str, frozenset[int]]
    numbers: Mapping[str, int]


class TrustAnchors:
    """The pinned root bundle (PEM, newest root last) and the checks made against it."""

    def __init__(self, roots: Iterable[x509.Certificate]) -> None:
        self.roots = list(roots)
        if not self.roots:
            raise ConfigError("the authority root bundle holds no certificate")
        for root in self.roots:
            try:
                root.verify_directly_issued_by(root)
                ca = root.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
            except (ValueError, TypeError, InvalidSignature, x509.ExtensionNotFound):
                raise ConfigError("a certificate in the authority root bundle is not a self-signed "
                                  "CA certificate (give the authority's roots.pem)") from None
            if not ca or not isinstance(root.public_key(), Ed25519PublicKey):
                raise ConfigError("a root in the bundle is not an Ed25519 CA certificate "
                                  "(give the authority's roots.pem)")
        self.by_fingerprint = {fingerprint(r): r for r in self.roots}

    @classmethod
    def from_pem(cls, pem: bytes) -> TrustAnchors:
        try:
            roots = x509.load_pem_x509_certificates(pem)
        except ValueError:
            raise ConfigError("the authority root bundle is not PEM X.509 certificates") from None
        return cls(roots)

    @classmethod
    def from_file(cls, path: str | Path) -> TrustAnchors:
        try:
            pem = Path(path).read_bytes()
        except OSError as exc:
            raise ConfigError(f"cannot read the authority root bundle {path}: {exc.strerror}") from None
        return cls.from_pem(pem)

    # --- revocation lists --------------------------------------------------------------------
    def revocations(self, pem: bytes, *, max_age: datetime.timedelta | None,
                    seen: Mapping[str, int] | None = None,
                    now: datetime.datetime | None = None) -> Revocations:
        """Verify the CRLs in ``pem``: each signed by a pinned root; with ``max_age`` also fresh
        (issued at most ``max_age`` ago, before ``next_update``) and numbered no lower than
        ``seen[root]``. CRLs that fail are refused with :class:`CertificateError`."""
        now = now or utcnow()
        revoked: dict[str, frozenset[int]] = {}
        numbers: dict[str, int] = {}
        for crl in split_crls(pem):
            root = next((r for r in self.roots if r.subject == crl.issuer
                         and crl.is_signature_valid(r.public_key())), None)  # type: ignore[arg-type]
            if root is None:
                raise CertificateError("a revocation list is not signed by a pinned authority root")
            fp = fingerprint(root)
            number = crl_number(crl)
            if max_age is not None:
                issued, expires = crl.last_update_utc, crl.next_update_utc
                if issued > now + CLOCK_SKEW:
                    raise CertificateError("the authority's revocation list is dated in the future "
                                           "(check this machine's clock)")
                if expires is None or now >= expires or now - issued > max_age:
                    raise CertificateError(
                        f"the authority's revocation list from {issued:%Y-%m-%d %H:%M} UTC is stale: "
                        "the operator must publish a fresh one (secagg authority crl) to the server")
                if seen is not None and number < seen.get(fp, 0):
                    raise CertificateError(f"revocation list number {number} is older than number "
                                           f"{seen[fp]} already seen (a rolled-back CRL)")
            if fp in numbers and numbers[fp] >= number:
                continue  # two CRLs of one root: keep the newest
            numbers[fp] = number
            revoked[fp] = frozenset(r.serial_number for r in crl)
        return Revocations(revoked, numbers)

    # --- certificates ----------------------------------------------------------------------------
    def verify(self, cert_der: bytes, public_key: bytes, revocations: Revocations | None, *,
               now: datetime.datetime | None = None) -> PeerIdentity:
        """Check one certificate for ``public_key``; returns what it certifies.

        ``revocations`` None skips the revocation check (the server's own early refusal only;
        clients always pass fresh ones)."""
        now = now or utcnow()
        if not cert_der:
            raise CertificateError("no certificate from the enrolment authority")
        try:
            cert = x509.load_der_x509_certificate(cert_der)
        except ValueError:
            raise CertificateError("the certificate is not a DER X.509 certificate") from None
        if raw_public_key(cert) != public_key:
            raise CertificateError("the certificate is for another key than the one presented")
        root = None
        for r in self.roots:
            try:
                cert.verify_directly_issued_by(r)
            except (ValueError, TypeError, InvalidSignature):
                continue
            root = r
            break
        if root is None:
            raise CertificateError("the certificate was not issued by any pinned authority root")
        try:
            if cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca:
                raise CertificateError("a CA certificate is not a client identity")
        except x509.ExtensionNotFound:
            raise CertificateError("the certificate has no basic constraints") from None
        for c, what in ((cert, "certificate"), (root, "root certificate that issued it")):
            if not c.not_valid_before_utc - CLOCK_SKEW <= now <= c.not_valid_after_utc:
                raise CertificateError(f"the {what} is outside its validity window "
                                       f"({c.not_valid_before_utc:%Y-%m-%d} to {c.not_valid_after_utc:%Y-%m-%d})")
        fp = fingerprint(root)
        if revocations is not None:
            if fp not in revocations.revoked:
                raise CertificateError("no revocation list from the root that issued the certificate")
            if cert.serial_number in revocations.revoked[fp]:
                raise CertificateError(f"certificate {cert.serial_number:x} ({subject_name(cert)}) "
                                       "is revoked")
        return PeerIdentity(subject_name(cert), cert.serial_number, fp, cert.not_valid_after_utc)

    def verify_peers(self, peers: Iterable[tuple[int, bytes, bytes]], crl_pem: bytes, *,
                     max_age: datetime.timedelta, seen: Mapping[str, int] | None = None,
                     now: datetime.datetime | None = None) -> tuple[dict[int, PeerIdentity], Revocations]:
        """Verify a session's peer list ``(client_id, public_key, certificate)`` against fresh CRLs:
        every peer certified, no key or subject twice. Raises :class:`CertificateError` naming
        the first peer that fails."""
        now = now or utcnow()
        revocations = self.revocations(crl_pem, max_age=max_age, seen=seen, now=now)
        out: dict[int, PeerIdentity] = {}
        keys: set[bytes] = set()
        subjects: set[str] = set()
        for cid, key, cert in peers:
            try:
                ident = self.verify(cert, key, revocations, now=now)
            except CertificateError as exc:
                raise CertificateError(f"peer {cid}: {exc}") from None
            if key in keys or ident.subject in subjects:
                raise CertificateError(f"peer {cid}: subject {ident.subject!r} or its key appears "
                                       "twice in the session")
            keys.add(key)
            subjects.add(ident.subject)
            out[cid] = ident
        return out, revocations
