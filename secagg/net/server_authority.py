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
        """The ``clients`` whose certificate is valid now (not expired, not revoked)."""
        revocations = self._revocations(self.revocation_lists())
        now = utcnow()
        out = []
        for cid in clients:
            try:
                self.anchors.verify(certificates.get(cid, b""), keys[cid], revocations, now=now)
            except CertificateError:
                continue
            out.append(cid)
        return out
