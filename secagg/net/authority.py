"""The enrolment authority: certifies clients' Ed25519 identity keys, apart from the server.

It lives in its own directory, meant for a machine the aggregation server does not control
(ideally offline; requests, certificates and CRLs move as files)::

    roots.pem            every root certificate, newest last: the bundle clients and server pin
    keys/root-N.key      each root's Ed25519 private key (PKCS#8 PEM, mode 600), kept: an old root
                         still signs CRLs for the certificates it issued until they expire
    state.json           (mode 600) current root, issued certificates, revocations, SHA-256 of
                         enrolment tokens (never the tokens), the last CRL number per root
    issued/SERIAL.pem    a copy of every certificate issued

Enrolment: a device writes a signed request (:func:`make_request`: subject name, identity key,
proof of possession, optionally a one-time token the operator gave it); :meth:`Authority.issue`
certifies it when the token is valid and unused, or when the operator approves it explicitly.
Rotation adds a new root to the bundle and issues with it from then on; certificates of older
roots stay valid until they expire, as long as clients pin the bundle.
"""

from __future__ import annotations

import datetime
import hashlib
import hmac
import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from ..core.crypto import verify
from ..errors import AuthenticationError, EnrolmentError
from .auth import PUBLIC_KEY_BYTES, ClientIdentity
from .files import write_atomic
from .pki import TrustAnchors, fingerprint, utcnow

REQUEST_DOMAIN = b"secagg-enrol/v1\x00"
DEFAULT_CERT_DAYS = 90
DEFAULT_ROOT_DAYS = 3650
DEFAULT_CRL_DAYS = 2.0
DEFAULT_TOKEN_HOURS = 72.0
MAX_SUBJECT = 64


def _check_subject(subject: str) -> str:
    if not subject or len(subject) > MAX_SUBJECT or not subject.isprintable():
        raise EnrolmentError(f"a subject name is 1-{MAX_SUBJECT} printable characters, got {subject!r}")
    return subject


def _request_bytes(subject: str, public_key: bytes, token: str) -> bytes:
    return REQUEST_DOMAIN + subject.encode() + b"\x00" + public_key + token.encode()


def make_request(identity: ClientIdentity, subject: str, token: str = "") -> bytes:
    """A device's enrolment request (JSON), signed with the identity key it asks to certify."""
    _check_subject(subject)
    sig = identity.sign(_request_bytes(subject, identity.public, token))
    return json.dumps({"subject": subject, "public_key": identity.public.hex(), "token": token,
                       "signature": sig.hex()}).encode()


@dataclass(frozen=True)
class Request:
    subject: str
    public_key: bytes
    token: str


def read_request(data: bytes) -> Request:
    """Parse and check an enrolment request (its signature proves possession of the key)."""
    try:
        obj = json.loads(data)
        req = Request(_check_subject(str(obj["subject"])), bytes.fromhex(obj["public_key"]),
                      str(obj.get("token", "")))
        sig = bytes.fromhex(obj["signature"])
    except (ValueError, KeyError, TypeError):
        raise EnrolmentError("not an enrolment request (make one with: secagg authority request)") from None
    if len(req.public_key) != PUBLIC_KEY_BYTES:
        raise EnrolmentError("the request's public key is not a 32-byte Ed25519 key")
    try:
        verify(req.public_key, sig, _request_bytes(req.subject, req.public_key, req.token))
    except AuthenticationError:
        raise EnrolmentError("the request's signature does not verify with its key") from None
    return req


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _name(common: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common)])


def _check_days(days: float, what: str) -> datetime.timedelta:
    if not 0 < days <= 36500:
        raise EnrolmentError(f"the {what} must be in (0, 36500] days, got {days}")
    return datetime.timedelta(days=days)


class Authority:
    """An authority directory (see the module docstring). Open with :meth:`open`, make with :meth:`init`."""

    def __init__(self, directory: Path, state: dict[str, Any], lock: int) -> None:
        self.dir = directory
        self.state = state
        self._lock = lock  # an exclusive flock on directory/lock, held while this object lives

    def close(self) -> None:
        """Release the directory (also released when the process ends)."""
        if self._lock >= 0:
            os.close(self._lock)
            self._lock = -1

    def __del__(self) -> None:
        self.close()

    @staticmethod
    def _acquire(d: Path) -> int:
        import fcntl

        fd = os.open(d / "lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise EnrolmentError(f"another secagg authority command is using {d}; run this one after it") from None
        return fd

    # --- directory ---------------------------------------------------------------------------
    @classmethod
    def init(cls, directory: str | Path, *, name: str = "secagg enrolment authority",
             root_days: float = DEFAULT_ROOT_DAYS) -> Authority:
        d = Path(directory)
        if (d / "state.json").exists():
            raise EnrolmentError(f"{d} already holds an authority (rotate its root with: secagg authority rotate)")
        _check_subject(name)
        (d / "keys").mkdir(parents=True, exist_ok=True, mode=0o700)
        (d / "issued").mkdir(exist_ok=True)
        auth = cls(d, {"name": name, "roots": [], "current": -1, "issued": {}, "revoked": {},
                       "tokens": {}, "crl_numbers": {}}, cls._acquire(d))
        auth._new_root(root_days)
        return auth

    @classmethod
    def open(cls, directory: str | Path) -> Authority:
        d = Path(directory)
        if not (d / "state.json").is_file():
            raise EnrolmentError(f"{d} holds no authority (make one with: secagg authority init --dir {d})")
        lock = cls._acquire(d)
        try:
            state = json.loads((d / "state.json").read_text())
        except (OSError, json.JSONDecodeError):
            os.close(lock)
            raise EnrolmentError(f"{d / 'state.json'} is unreadable or damaged (restore it from the backup)") from None
        return cls(d, state, lock)

    def _save(self) -> None:
        write_atomic(self.dir / "state.json", json.dumps(self.state, indent=1).encode())

    @property
    def roots_path(self) -> Path:
        return self.dir / "roots.pem"

    def anchors(self) -> TrustAnchors:
        return TrustAnchors.from_file(self.roots_path)

    def _root(self, index: int) -> tuple[x509.Certificate, Ed25519PrivateKey]:
        info = self.state["roots"][index]
        cert = x509.load_pem_x509_certificate(info["cert"].encode())
        key = serialization.load_pem_private_key((self.dir / "keys" / info["key"]).read_bytes(), None)
        assert isinstance(key, Ed25519PrivateKey)
        return cert, key

    def _new_root(self, root_days: float) -> x509.Certificate:
        lifetime = _check_days(root_days, "root lifetime")
        index = len(self.state["roots"])
        key = Ed25519PrivateKey.generate()
        now = utcnow()
        name = _name(f"{self.state['name']} root {index + 1}")
        usage = x509.KeyUsage(digital_signature=False, key_cert_sign=True, crl_sign=True,
                              content_commitment=False, key_encipherment=False, data_encipherment=False,
                              key_agreement=False, encipher_only=False, decipher_only=False)
        cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
                .public_key(key.public_key()).serial_number(x509.random_serial_number())
                .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + lifetime)
                .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
                .add_extension(usage, critical=True)
                .sign(key, None))
        key_file = f"root-{index + 1}.key"
        write_atomic(self.dir / "keys" / key_file, key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
        pem = cert.public_bytes(serialization.Encoding.PEM).decode()
        self.state["roots"].append({"cert": pem, "key": key_file, "fingerprint": fingerprint(cert)})
        self.state["current"] = index
        self._save()
        bundle = "".join(r["cert"] for r in self.state["roots"]
                         if x509.load_pem_x509_certificate(r["cert"].encode()).not_valid_after_utc > now)
        tmp = self.roots_path.with_suffix(".tmp")
        tmp.write_text(bundle)
        os.replace(tmp, self.roots_path)
        return cert

    def rotate(self, *, root_days: float = DEFAULT_ROOT_DAYS) -> x509.Certificate:
        """A new root, added to ``roots.pem``; new certificates come from it, older ones stay valid."""
        return self._new_root(root_days)

    # --- enrolment -------------------------------------------------------------------------------
    def new_token(self, *, subject: str | None = None, hours: float = DEFAULT_TOKEN_HOURS) -> str:
        """A one-time enrolment token (returned once; only its hash is kept), bound to ``subject``
        if given, valid for ``hours``."""
        if not 0 < hours <= 24 * 365:
            raise EnrolmentError(f"a token's lifetime must be in (0, 8760] hours, got {hours}")
        token = secrets.token_urlsafe(32)
        expires = utcnow() + datetime.timedelta(hours=hours)
        self.state["tokens"][_token_hash(token)] = {
            "subject": None if subject is None else _check_subject(subject),
            "expires": expires.isoformat(), "used": None}
        self._save()
        return token

    def _redeem(self, req: Request) -> bool:
        """True if ``req`` carries a valid unused token for its subject (the token is then used up)."""
        if not req.token:
            return False
        digest = _token_hash(req.token)
        entry = next((v for k, v in self.state["tokens"].items() if hmac.compare_digest(k, digest)), None)
        if entry is None:
            raise EnrolmentError("the request's enrolment token was not issued by this authority")
        if entry["used"] is not None:
            raise EnrolmentError(f"the request's enrolment token was already used on {entry['used']}: "
                                 "tokens are one-time, make a new one with: secagg authority token")
        if datetime.datetime.fromisoformat(entry["expires"]) <= utcnow():
            raise EnrolmentError("the request's enrolment token has expired: make a new one")
        if entry["subject"] is not None and entry["subject"] != req.subject:
            raise EnrolmentError(f"the enrolment token is for subject {entry['subject']!r}, "
                                 f"the request names {req.subject!r}")
        entry["used"] = utcnow().isoformat()
        return True

    def issue(self, request: bytes, *, approve: bool = False, days: float = DEFAULT_CERT_DAYS) -> bytes:
        """Certify an enrolment request; returns the certificate (PEM). Needs a valid one-time
        token in the request, or ``approve=True`` (the operator checked the request by hand)."""
        lifetime = _check_days(days, "certificate lifetime")
        req = read_request(request)
        via_token = self._redeem(req)
        if not via_token and not approve:
            raise EnrolmentError("the request carries no enrolment token: check it came from the "
                                 "device named, then approve it explicitly (secagg authority issue --approve)")
        cert_root, key = self._root(self.state["current"])
        now = utcnow()
        not_after = min(now + lifetime, cert_root.not_valid_after_utc)
        cert = (x509.CertificateBuilder().subject_name(_name(req.subject)).issuer_name(cert_root.subject)
                .public_key(_ed25519_public(req.public_key)).serial_number(x509.random_serial_number())
                .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(not_after)
                .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
                .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
                .sign(key, None))
        pem = cert.public_bytes(serialization.Encoding.PEM)
        serial = f"{cert.serial_number:x}"
        self.state["issued"][serial] = {
            "subject": req.subject, "public_key": req.public_key.hex(), "root": self.state["current"],
            "not_after": not_after.isoformat(), "issued": now.isoformat(),
            "by": "token" if via_token else "operator approval"}
        (self.dir / "issued" / f"{serial}.pem").write_bytes(pem)
        self._save()
        return pem

    # --- revocation --------------------------------------------------------------------------------
    def revoke(self, serial: str, *, reason: str = "") -> dict[str, Any]:
        """Revoke the certificate with hex serial number ``serial`` (takes effect with the next CRL)."""
        serial = serial.lower().removeprefix("0x")
        info = self.state["issued"].get(serial)
        if info is None:
            raise EnrolmentError(f"no certificate with serial {serial} was issued by this authority "
                                 "(secagg authority list shows them)")
        if serial in self.state["revoked"]:
            raise EnrolmentError(f"certificate {serial} is already revoked")
        self.state["revoked"][serial] = {"at": utcnow().isoformat(), "reason": reason}
        self._save()
        return info

    def crl(self, *, days: float = DEFAULT_CRL_DAYS) -> bytes:
        """Fresh signed CRLs (PEM), one per root still valid, each valid for ``days``; the server
        relays them to clients, who refuse a round without fresh ones."""
        validity = _check_days(days, "CRL validity")
        now = utcnow()
        out = []
        for index, info in enumerate(self.state["roots"]):
            root, key = self._root(index)
            if root.not_valid_after_utc <= now:
                continue
            # increasing even if state.json is restored from an older backup (clients refuse lower numbers)
            number = max(self.state["crl_numbers"].get(info["fingerprint"], 0) + 1, int(now.timestamp()))
            self.state["crl_numbers"][info["fingerprint"]] = number
            builder = (x509.CertificateRevocationListBuilder().issuer_name(root.subject)
                       .last_update(now).next_update(now + validity)
                       .add_extension(x509.CRLNumber(number), critical=False))
            for serial, rev in self.state["revoked"].items():
                if self.state["issued"][serial]["root"] != index:
                    continue
                builder = builder.add_revoked_certificate(
                    x509.RevokedCertificateBuilder().serial_number(int(serial, 16))
                    .revocation_date(datetime.datetime.fromisoformat(rev["at"])).build())
            out.append(builder.sign(key, None).public_bytes(serialization.Encoding.PEM))
        self._save()
        return b"".join(out)

    def listing(self) -> list[dict[str, Any]]:
        """Every issued certificate: serial, subject, expiry, how it was approved, revoked or not."""
        return [{"serial": s, **{k: v for k, v in i.items() if k != "public_key"},
                 "revoked": s in self.state["revoked"]} for s, i in self.state["issued"].items()]


def _ed25519_public(raw: bytes) -> Any:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    return Ed25519PublicKey.from_public_bytes(raw)
