"""The aggregation server's view of the enrolment authority: its pinned roots and the CRL file the
operator copies over. The server refuses to register clients without a valid certificate and does
not sample clients whose certificate expired or was revoked; it relays the CRL file to clients
unchanged. None of this is what keeps clients safe from the server (they verify every peer
themselves); it keeps honest rounds from failing on certificates the clients would refuse."""

from __future__ import annotations

import datetime
from pathlib import Path

from ..errors import CertificateError, ConfigError
from .pki import Revocations, TrustAnchors, utcnow


class ServerAuthority:
    """``roots``: the authority's ``roots.pem``; ``crl``: the file of its latest CRLs (re-read
    every round, so the operator replaces it without restarting the server)."""

    def __init__(self, roots: str | Path, crl: str | Path | None = None) -> None:
        self.anchors = TrustAnchors.from_file(roots)
        self.crl_path = None if crl is None else Path(crl)
        # eligible() runs on every poll of the round loop: verify each certificate once per CRL file
        # content; cid -> (certificate, its not_after, or None if it failed)
        self._checked: dict[int, tuple[bytes, datetime.datetime | None]] = {}
        self._checked_against: bytes | None = None
        if self.crl_path is not None:
            self._revocations(self.revocation_lists())  # a bad file is an error at start

    def revocation_lists(self) -> bytes:
        """The CRL file's bytes (empty without one; clients then refuse rounds, and say why)."""
        if self.crl_path is None:
            return b""
        try:
            return self.crl_path.read_bytes()
        except OSError as exc:
            raise ConfigError(f"cannot read the authority's CRL file {self.crl_path}: {exc.strerror}") from None

    def stale(self, max_age: datetime.timedelta = datetime.timedelta(days=3650)) -> str | None:
        """Why clients would refuse the current CRL file as stale, or None if they accept it."""
        try:
            self.anchors.revocations(self.revocation_lists(), max_age=max_age)
        except CertificateError as exc:
            return str(exc)
        return None

    def _revocations(self, pem: bytes) -> Revocations | None:
        if self.crl_path is None:
            return None
        return self.anchors.revocations(pem, max_age=None)

    def check(self, certificate: bytes, public_key: bytes, *,
              now: datetime.datetime | None = None) -> None:
        """Raise :class:`CertificateError` unless ``certificate`` certifies ``public_key`` now."""
        self.anchors.verify(certificate, public_key, self._revocations(self.revocation_lists()), now=now)

    def eligible(self, clients: list[int], keys: dict[int, bytes],
                 certificates: dict[int, bytes]) -> list[int]:
        """The ``clients`` whose certificate is valid now (not expired, not revoked). Each
        certificate is verified once per CRL file content, then only its expiry is compared."""
        pem = self.revocation_lists()
        if pem != self._checked_against:
            self._checked, self._checked_against = {}, pem
        revocations = None
        now = utcnow()
        out = []
        for cid in clients:
            cert = certificates.get(cid, b"")
            hit = self._checked.get(cid)
            if hit is None or hit[0] != cert:
                if revocations is None:
                    revocations = self._revocations(pem)
                try:
                    hit = (cert, self.anchors.verify(cert, keys[cid], revocations, now=now).not_after)
                except CertificateError:
                    hit = (cert, None)
                self._checked[cid] = hit
            if hit[1] is not None and now <= hit[1]:
                out.append(cid)
        return out
