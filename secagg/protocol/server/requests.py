"""One stage's requests as a read-only mapping client id -> bytes, each encoded when it is read.

The server never holds a stage's n encoded requests at once: round 0's carry the whole cohort's
ids (O(n) bytes each, O(n^2) for the stage), round 1's every envelope (O(n * k)). A transport reads
and sends them one by one; reading one twice encodes it twice, to the same bytes. Builders capture
what they need when the stage closes, so a request read late says what it would have said then.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping

from ..messages import Message


class Requests(Mapping[int, bytes]):
    """client id -> the encoded request ``build(client id)``, for ``ids`` only."""

    def __init__(self, ids: Iterable[int], build: Callable[[int], Message]) -> None:
        self._ids = tuple(sorted(ids))
        self._members = frozenset(self._ids)
        self._build = build

    @classmethod
    def of(cls, messages: Mapping[int, Message]) -> Requests:
        """Requests already built as messages (encoded on reading all the same)."""
        return cls(messages, messages.__getitem__)

    def message(self, client_id: int) -> Message:
        """The request for ``client_id``, not encoded."""
        if client_id not in self._members:
            raise KeyError(client_id)
        return self._build(client_id)

    def __getitem__(self, client_id: int) -> bytes:
        return self.message(client_id).to_bytes()

    def __contains__(self, client_id: object) -> bool:
        return client_id in self._members

    def __iter__(self) -> Iterator[int]:
        return iter(self._ids)

    def __len__(self) -> int:
        return len(self._ids)

    def __repr__(self) -> str:
        return f"Requests({len(self._ids)} clients)"
