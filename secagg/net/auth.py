"""Client authentication on the wire: Ed25519-signed requests with replay protection.

A client registers its Ed25519 public key once (proving possession by signing the registration);
every later request carries :class:`Auth`: its client id, a counter that strictly increases
(nanoseconds on the client's clock, so a restarted client keeps going up) and a signature over
``"secagg-net/v1" || method || client_id || counter || request-without-auth``. The server keeps an
anti-replay window per client, as IPsec does (RFC 4303, section 3.4.3): a counter is accepted once,
if it is within ``max_skew`` seconds of the server clock and newer than ``highest - window`` (the
client's concurrent requests, e.g. a poll and a submit, may arrive out of order); any counter seen
before, or older than the window, is a replay. With a :class:`CounterStore` (the server's SQLite
store) each client's highest accepted counter is written through before the request is served and
reloaded at start as a hard floor, so a request captured before a restart stays refused after it.
"""

from __future__ import annotations

import os
import struct
import threading
import time
from pathlib import Path
from typing import Any, Protocol

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from ..core.crypto import SIGNATURE_BYTES, IdentityKey, verify
from ..errors import AuthenticationError, ReplayError
from .group_commit import GroupCommitter

DOMAIN = b"secagg-net/v1\x00"
PUBLIC_KEY_BYTES = 32


def new_counter() -> int:
    """A fresh request counter: the current time in nanoseconds."""
    return time.time_ns()


def request_body(request: Any) -> bytes:
    """The deterministic serialisation of ``request`` with its ``auth`` field cleared."""
    copy = type(request)()
    copy.CopyFrom(request)
    copy.ClearField("auth")
    return copy.SerializeToString(deterministic=True)


def signed_bytes(method: str, client_id: int, counter: int, body: bytes) -> bytes:
    return DOMAIN + method.encode() + b"\x00" + struct.pack("<QQ", client_id, counter) + body


def registration_bytes(public_key: bytes, enroll_token: bytes, counter: int) -> bytes:
    return DOMAIN + b"register\x00" + public_key + struct.pack("<Q", counter) + enroll_token


class ClientIdentity:
    """A client's long-term Ed25519 key (raw 32 private bytes on disk, never sent anywhere)."""

    def __init__(self, private: Ed25519PrivateKey | None = None) -> None:
        self._private = private or Ed25519PrivateKey.generate()
        self.key = IdentityKey(self._private)
        self._last_counter = 0
        self._counter_lock = threading.Lock()

    def next_counter(self) -> int:
        """A counter larger than every earlier one of this identity (clock ns, bumped if equal)."""
        with self._counter_lock:
            self._last_counter = max(new_counter(), self._last_counter + 1)
            return self._last_counter

    @property
    def public(self) -> bytes:
        return self.key.public

    def private_bytes(self) -> bytes:
        from cryptography.hazmat.primitives import serialization as s

        return self._private.private_bytes(s.Encoding.Raw, s.PrivateFormat.Raw, s.NoEncryption())

    @classmethod
    def from_private_bytes(cls, raw: bytes) -> ClientIdentity:
        if len(raw) != 32:
            raise AuthenticationError("an Ed25519 private key file holds exactly 32 bytes")
        return cls(Ed25519PrivateKey.from_private_bytes(raw))

    def sign(self, data: bytes) -> bytes:
        return self.key.sign(data)

    def sign_request(self, method: str, client_id: int, request: Any) -> None:
        """Fill ``request.auth`` (client id, fresh counter, signature)."""
        request.ClearField("auth")
        counter = self.next_counter()
        body = request.SerializeToString(deterministic=True)
        request.auth.client_id = client_id
        request.auth.counter = counter
        request.auth.signature = self.sign(signed_bytes(method, client_id, counter, body))


def load_identity(state_dir: str | Path) -> ClientIdentity:
    """The identity in ``state_dir/identity.key``, created (mode 600) if there is none yet."""
    d = Path(state_dir)
    d.mkdir(parents=True, exist_ok=True)
    path = d / "identity.key"
    if path.exists():
        return ClientIdentity.from_private_bytes(path.read_bytes())
    ident = ClientIdentity()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(ident.private_bytes())
    return ident


class CounterStore(Protocol):
    """Durable per-client last-accepted counters (implemented by :class:`secagg.net.store.Store`)."""

    def last_counters(self) -> dict[int, int]: ...

    def save_counter(self, client_id: int, counter: int) -> None: ...

    def save_counters(self, counters: dict[int, int]) -> None: ...


class RequestVerifier:
    """Server side: checks signatures against registered keys and rejects replays.

    With ``counters`` every accepted client counter is saved there before :meth:`verify` returns
    (if saving fails the request is refused), and the saved ones are loaded here, so a request
    captured before a server restart stays refused after it. Registration counters are kept in
    memory only: replaying a registration just returns the same client id for the same key.
    """

    def __init__(self, max_skew: float = 60.0, counters: CounterStore | None = None,
                 window: float = 10.0) -> None:
        if not max_skew > 0:
            raise AuthenticationError("max_skew must be > 0 seconds")
        if not 0 <= window <= max_skew:
            raise AuthenticationError("the replay window must be in [0, max_skew] seconds")
        self.max_skew_ns = int(max_skew * 1e9)
        self.window_ns = int(window * 1e9)
        self._counters = counters
        # Per key: every counter <= floor is refused; counters above it that were accepted are
        # remembered in `seen` (pruned as the floor rises); `highest` is the largest accepted one.
        restored = dict(counters.last_counters()) if counters is not None else {}
        self._floor: dict[Any, int] = dict(restored)
        self._highest: dict[Any, int] = dict(restored)
        self._seen: dict[Any, set[int]] = {}
        self._lock = threading.Lock()
        self._keys: dict[bytes, Ed25519PublicKey] = {}  # parsed registered keys
        # concurrent requests share one synced write (see secagg.net.group_commit)
        self._committer = GroupCommitter(counters.save_counters) if counters is not None else None

    def check_fresh(self, key: Any, counter: int) -> None:
        """Raise :class:`ReplayError` unless ``counter`` is new for ``key`` and near our clock."""
        highest = self._admit(key, counter)
        if highest is not None:
            assert self._committer is not None
            self._committer.save(key, highest)  # durable before the request is served (or it fails)

    def _admit(self, key: Any, counter: int) -> int | None:
        """:meth:`check_fresh` in memory: the counter is taken (a concurrent copy is refused);
        returns the highest counter of ``key`` to make durable before serving, or None."""
        now = time.time_ns()
        if abs(counter - now) > self.max_skew_ns:
            raise ReplayError(f"request counter is more than {self.max_skew_ns / 1e9:.0f} s away from "
                              "the server clock (stale or replayed request; check the client's clock)")
        with self._lock:
            seen = self._seen.setdefault(key, set())
            if counter <= self._floor.get(key, 0) or counter in seen:
                raise ReplayError("replayed request: its counter was already used or is older than "
                                  "the replay window")
            highest = max(counter, self._highest.get(key, 0))
            durable = self._committer is not None and isinstance(key, int) and highest > self._highest.get(key, 0)
            self._highest[key] = highest
            seen.add(counter)  # taken now: a concurrent copy of this request is refused
            floor = max(self._floor.get(key, 0), highest - self.window_ns)
            if floor > self._floor.get(key, 0):
                self._floor[key] = floor
                seen.difference_update([c for c in seen if c <= floor])
        return highest if durable else None

    def verify(self, method: str, request: Any, public_key: bytes | None) -> int:
        """Verify ``request.auth``; returns the authenticated client id."""
        self._check_signature(method, request, public_key)
        self.check_fresh(int(request.auth.client_id), int(request.auth.counter))
        return int(request.auth.client_id)

    def _check_signature(self, method: str, request: Any, public_key: bytes | None) -> None:
        if not request.HasField("auth"):
            raise AuthenticationError("the request carries no authentication")
        auth = request.auth
        if public_key is None:
            raise AuthenticationError(f"client {auth.client_id} is not registered")
        self._verify(public_key, bytes(auth.signature),
                     signed_bytes(method, auth.client_id, auth.counter, request_body(request)))

    def _verify(self, public_key: bytes, signature: bytes, data: bytes) -> None:
        """:func:`secagg.core.crypto.verify` with each registered key parsed once, not per request."""
        if len(signature) != SIGNATURE_BYTES:
            raise AuthenticationError(f"an Ed25519 signature is exactly {SIGNATURE_BYTES} bytes")
        key = self._keys.get(public_key)
        if key is None:
            try:
                key = Ed25519PublicKey.from_public_bytes(public_key)
            except ValueError:
                raise AuthenticationError("Ed25519 signature did not verify") from None
            if len(self._keys) >= 100_000:
                self._keys.clear()
            self._keys[public_key] = key
        try:
            key.verify(signature, data)
        except InvalidSignature:
            raise AuthenticationError("Ed25519 signature did not verify") from None

    def verify_many(self, requests: list[tuple[str, Any, bytes | None]]) -> list[int | Exception]:
        """:meth:`verify` for many (method, request, public key) at once, each checked alike, with
        ONE durable write of their counters: returns each request's client id or the exception
        that refuses it (every request of the batch gets the write's error if it failed)."""
        results: list[int | Exception] = []
        durable: dict[int, int] = {}
        for method, request, public_key in requests:
            try:
                self._check_signature(method, request, public_key)
                cid = int(request.auth.client_id)
                highest = self._admit(cid, int(request.auth.counter))
            except (AuthenticationError, ReplayError) as exc:
                results.append(exc)
                continue
            if highest is not None:
                durable[cid] = max(highest, durable.get(cid, 0))
            results.append(cid)
        if durable:
            assert self._committer is not None
            try:
                self._committer.save_many(durable)
            except Exception as exc:  # noqa: BLE001 - nothing of this batch is served
                return [r if isinstance(r, Exception) else exc for r in results]
        return results

    def verify_registration(self, public_key: bytes, enroll_token: bytes, counter: int,
                            signature: bytes) -> None:
        if len(public_key) != PUBLIC_KEY_BYTES:
            raise AuthenticationError(f"an Ed25519 public key is exactly {PUBLIC_KEY_BYTES} bytes")
        verify(public_key, signature, registration_bytes(public_key, enroll_token, counter))
        self.check_fresh(b"register:" + public_key, counter)
