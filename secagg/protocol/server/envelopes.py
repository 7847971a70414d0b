"""The share envelopes the server relays in round 1, kept compactly: one bytes blob per sender.

A dict of dicts of bytes costs about 120 bytes of Python objects per envelope on top of the
envelope itself; at n = 10^5 clients with k = 100 neighbours that is over a gigabyte. Here each
sender's envelopes are joined in holder order into one ``bytes`` with two flat arrays beside it
(holder ids, end offsets): 12 bytes per envelope beyond its own length, O(n * k) in all.
"""

from __future__ import annotations

from array import array
from bisect import bisect_left
from collections.abc import Iterator, Mapping


class EnvelopeStore:
    """sender -> holder -> envelope bytes (each sender added once; read-only afterwards)."""

    def __init__(self) -> None:
        self._rows: dict[int, tuple[array, array, bytes]] = {}

    def add(self, sender: int, envelopes: Mapping[int, bytes]) -> None:
        """Keep ``sender``'s envelopes (holder -> envelope)."""
        holders = sorted(envelopes)
        ends, total = array("Q"), 0
        for holder in holders:
            total += len(envelopes[holder])
            ends.append(total)
        self._rows[sender] = (array("q", holders), ends, b"".join(envelopes[h] for h in holders))

    def get(self, sender: int, holder: int) -> bytes:
        """The envelope ``sender`` addressed to ``holder`` (KeyError if there is none)."""
        holders, ends, blob = self._rows[sender]
        pos = bisect_left(holders, holder)
        if pos == len(holders) or holders[pos] != holder:
            raise KeyError((sender, holder))
        return blob[ends[pos - 1] if pos else 0: ends[pos]]

    def items(self, sender: int) -> Iterator[tuple[int, bytes]]:
        """(holder, envelope) pairs of ``sender``, holders ascending."""
        holders, ends, blob = self._rows[sender]
        start = 0
        for holder, end in zip(holders, ends):
            yield holder, blob[start:end]
            start = end

    def heads(self, size: int) -> EnvelopeStore:
        """A store of only the first ``size`` bytes of every envelope (the active model's share
        commitments, kept after the envelopes themselves were routed)."""
        out = EnvelopeStore()
        for sender in self._rows:
            out.add(sender, {holder: env[:size] for holder, env in self.items(sender)})
        return out

    def __contains__(self, sender: object) -> bool:
        return sender in self._rows

    def __iter__(self) -> Iterator[int]:
        return iter(self._rows)

    def __len__(self) -> int:
        return len(self._rows)

    def nbytes(self) -> int:
        """Bytes held in the blobs and offset arrays (not counting fixed per-object overhead)."""
        return sum(len(b) + h.itemsize * len(h) + e.itemsize * len(e) for h, e, b in self._rows.values())
