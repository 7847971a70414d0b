"""Which client *process* speaks for each client id.

Every registration (each client process registers when it starts) gets a fresh random instance
token; later requests carry it. Two rules follow, enforced by the coordinator under its lock:

* **Latest registration wins.** A request with an older token of the same client id comes from a
  process that another one has replaced: a duplicate identity (two processes sharing a state
  directory or key). It is refused with :class:`~secagg.errors.DuplicateIdentityError`, naming the
  client id, so that process stops instead of answering rounds with keys nobody advertised.
  A token the server never issued (the server restarted) gets
  :class:`~secagg.errors.StaleInstanceError`: the client registers again.
* **A session belongs to the process that advertised keys in it.** A client restarted after
  advertising its keys cannot take part in that session (its keys died with the old process): it
  is held out of the session's later tasks (it counts as a dropout, which the protocol tolerates)
  and rejoins at the next round, instead of answering with fresh keys that its peers cannot use.
"""

from __future__ import annotations

import hmac
import os

from ..errors import DuplicateIdentityError, StaleInstanceError


class Instances:
    """Current instance per client id, and the instance that joined the running session."""

    def __init__(self) -> None:
        self.current: dict[int, bytes] = {}
        self.owner: dict[int, bytes] = {}  # session: client id -> instance that advertised keys
        self.held_out: set[int] = set()
        self._replaced: set[int] = set()  # session clients whose owner is no longer current

    def register(self, client_id: int) -> tuple[bytes, bool]:
        """A fresh instance token for ``client_id``; True if it replaces a previous one."""
        token = os.urandom(16)
        replaced = client_id in self.current
        self.current[client_id] = token
        if client_id in self.owner:
            self._replaced.add(client_id)
        return token, replaced

    def check(self, client_id: int, instance: bytes) -> None:
        """Refuse a request from anything but ``client_id``'s current process."""
        current = self.current.get(client_id)
        if current is None:
            raise StaleInstanceError(f"client {client_id}: this process has not registered with this "
                                     "server since it started; register again")
        if not hmac.compare_digest(current, instance):
            raise DuplicateIdentityError(
                f"client {client_id}: another process registered with this identity after this one; "
                "two running processes must not share one identity key (state directory); "
                "this process stops")

    def new_session(self) -> None:
        self.owner = {}
        self.held_out = set()
        self._replaced = set()

    def may_take(self, client_id: int, instance: bytes) -> bool:
        """False if another process of ``client_id`` advertised keys in the running session."""
        owner = self.owner.get(client_id)
        return owner is None or hmac.compare_digest(owner, instance)

    def check_session(self, client_id: int, instance: bytes, advertising: bool) -> None:
        """Refuse a reply from a process that did not advertise keys in the running session."""
        owner = self.owner.get(client_id)
        if (owner is None and not advertising) or (owner is not None and
                                                    not hmac.compare_digest(owner, instance)):
            raise StaleInstanceError(f"client {client_id}: this process did not advertise keys in "
                                     "the running session (it restarted); it rejoins at the next round")

    def replaced(self) -> set[int]:
        """Clients of the running session whose joining process was replaced: they will never
        answer it again (the stage need not wait for them)."""
        return set(self._replaced)  # kept up to date: the round thread asks after every reply

    def joined(self, client_id: int, instance: bytes) -> None:
        self.owner[client_id] = instance
        if self.current.get(client_id) != instance:
            self._replaced.add(client_id)
        else:
            self._replaced.discard(client_id)
