"""Active model: the masked vectors, kept on disk until the round ends (O(1) memory per client).

A client convicted in round 4 must be taken out of the sum, so its masked vector, already added
into the running sum, must be subtracted again. Keeping every vector in memory for that rare case
costs n * d; the spool writes each accepted (packed) vector to an unnamed temporary file instead
and reads back only a convicted client's. Masked vectors are what the server received anyway
(no secret of any client); the file is gone once closed.
"""

from __future__ import annotations

import tempfile
from typing import IO


class MaskedInputSpool:
    """client id -> packed masked vector, in an unnamed temporary file."""

    def __init__(self) -> None:
        self._file: IO[bytes] | None = None
        self._where: dict[int, tuple[int, int]] = {}

    def put(self, client_id: int, data: bytes) -> None:
        if self._file is None:
            self._file = tempfile.TemporaryFile(prefix="secagg-masked-")
        offset = self._file.seek(0, 2)
        self._file.write(data)
        self._where[client_id] = (offset, len(data))

    def get(self, client_id: int) -> bytes:
        """The vector ``client_id`` sent (KeyError if none was kept)."""
        offset, size = self._where[client_id]
        assert self._file is not None
        self._file.seek(offset)
        data = self._file.read(size)
        if len(data) != size:
            raise OSError(f"the masked-input spool lost client {client_id}'s vector")
        return data

    def __contains__(self, client_id: object) -> bool:
        return client_id in self._where

    def __len__(self) -> int:
        return len(self._where)

    def close(self) -> None:
        """Forget every vector (idempotent)."""
        if self._file is not None:
            self._file.close()
            self._file = None
        self._where = {}
