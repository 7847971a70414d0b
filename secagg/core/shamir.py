"""t-of-n Shamir secret sharing of 32-byte secrets (the native core does the arithmetic).

Field and encoding
    Arithmetic is in GF(p), p = 2^61 - 1. A 32-byte secret is read as eight 32-bit little-endian
    chunks; each chunk is the constant term of its own random polynomial of degree ``threshold - 1``
    whose other coefficients are uniform in GF(p) (OS CSPRNG bytes, rejection-sampled: no modulo
    bias). Share ``i`` (``1 <= i <= num_shares``; 0 is never a share) holds the eight values
    ``f_c(i)`` as 64 bytes (eight little-endian uint64, each ``< p``). Any ``threshold`` shares
    determine the secret; any ``threshold - 1`` shares are independent of it (perfect secrecy).
    ``threshold == 1`` is allowed but gives **no secrecy**: every share then equals the secret.

Reconstruction
    :func:`combine` / :func:`combine_many` need at least ``threshold`` shares of one :func:`split`
    call (same ``split_id`` and ``threshold``, distinct indices). With more than ``threshold``
    shares, all of them must lie on one polynomial of degree ``< threshold``; this is verified by a
    randomised Reed-Solomon parity check with fresh CSPRNG points (an inconsistent set passes with
    probability below 2^-120), so a tampered or foreign share raises :class:`ShamirError` instead of
    yielding a wrong secret. With exactly ``threshold`` shares a tampered share cannot be detected in
    general (a reconstructed chunk ``>= 2^32`` is still rejected): pass extra shares when tampering
    is a concern. :func:`combine_many` computes the Lagrange/parity coefficients once per distinct
    (threshold, index set) and runs in C++ with the GIL released.

Errors: :class:`~secagg.errors.SeedError` for a secret that is not 32 bytes,
:class:`~secagg.errors.ConfigError` for ``threshold``/``num_shares`` out of range, and
:class:`~secagg.errors.ShamirError` for every problem with shares.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from .. import _core
from .._validate import check_int
from ..errors import SeedError, ShamirError

PRIME: int = _core.SHAMIR_PRIME
"""The field modulus p = 2^61 - 1."""
MAX_SHARES: int = _core.SHAMIR_MAX_SHARES
"""Largest ``num_shares`` (and share index): 2^20."""
SECRET_BYTES = 32
SPLIT_ID_BYTES = 16
VALUE_BYTES = 64
FORMAT_VERSION = 1
_HEADER = struct.Struct("<BII16s")  # version, index, threshold, split_id; then the 64-byte value
SHARE_BYTES = _HEADER.size + VALUE_BYTES
"""Length of :meth:`Share.to_bytes` output (89)."""
_WORDS = struct.Struct("<8Q")
_CHUNKS = 8
_RECORD = struct.Struct("<BII16s8Q")  # one encoded share: the header, then the 8 words
assert _RECORD.size == SHARE_BYTES

__all__ = [
    "MAX_SHARES",
    "PRIME",
    "SECRET_BYTES",
    "SHARE_BYTES",
    "Share",
    "MALFORMED_STATUSES",
    "combine",
    "combine_encoded_many",
    "combine_many",
    "shares_from_bytes",
    "split",
    "split_to_bytes",
    "validate_share_bytes",
]


@dataclass(frozen=True, slots=True)
class Share:
    """One share of a 32-byte secret; see the module docstring for the encoding.

    Fields are validated on construction (:class:`ShamirError`). The value is secret material and
    is left out of ``repr``.
    """

    index: int
    threshold: int
    split_id: bytes
    value: bytes = field(repr=False)

    def __post_init__(self) -> None:
        index, threshold, split_id, value = self.index, self.threshold, self.split_id, self.value
        if type(index) is not int or not 1 <= index <= MAX_SHARES:
            raise ShamirError(f"Share.index must be an int in 1..{MAX_SHARES}, got {index!r}")
        if type(threshold) is not int or not 1 <= threshold <= MAX_SHARES:
            raise ShamirError(f"Share.threshold must be an int in 1..{MAX_SHARES}, got {threshold!r}")
        if type(split_id) is not bytes or len(split_id) != SPLIT_ID_BYTES:
            raise ShamirError(f"Share.split_id must be {SPLIT_ID_BYTES} bytes")
        if type(value) is not bytes or len(value) != VALUE_BYTES:
            raise ShamirError(f"Share.value must be {VALUE_BYTES} bytes (8 little-endian uint64)")
        if max(_WORDS.unpack(value)) >= PRIME:
            raise ShamirError("Share.value has an element >= p = 2^61 - 1: not a valid share")

    @classmethod
    def _trusted(cls, index: int, threshold: int, split_id: bytes, value: bytes) -> Share:
        """Build a share whose fields are already known to be valid (fresh from the core)."""
        share = object.__new__(cls)
        setattr_ = object.__setattr__
        setattr_(share, "index", index)
        setattr_(share, "threshold", threshold)
        setattr_(share, "split_id", split_id)
        setattr_(share, "value", value)
        return share

    def to_bytes(self) -> bytes:
        """Serialise as version (1 byte) | index (u32 LE) | threshold (u32 LE) | split_id | value."""
        return _HEADER.pack(FORMAT_VERSION, self.index, self.threshold, self.split_id) + self.value

    @classmethod
    def from_bytes(cls, data: bytes) -> Share:
        """Parse :meth:`to_bytes` output strictly; :class:`ShamirError` on any malformed input."""
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise ShamirError(f"share data must be bytes, got {type(data).__name__}")
        data = bytes(data)
        if len(data) != SHARE_BYTES:
            raise ShamirError(f"share data must be exactly {SHARE_BYTES} bytes, got {len(data)}")
        version, index, threshold, split_id = _HEADER.unpack_from(data)
        if version != FORMAT_VERSION:
            raise ShamirError(f"unknown share format version {version} (expected {FORMAT_VERSION})")
        return cls(index, threshold, split_id, data[_HEADER.size :])


def _uniform_field_elements(count: int) -> np.ndarray:
    """``count`` independent uniform elements of GF(p) from the OS CSPRNG (rejection sampling)."""
    parts: list[np.ndarray] = []
    have = 0
    while have < count:
        need = count - have
        got = _core.shamir_sample_field(os.urandom(8 * need + 64), need)
        parts.append(got)
        have += len(got)
    if len(parts) == 1:
        return parts[0]
    return np.concatenate(parts) if parts else np.empty(0, dtype=np.uint64)


def split(secret: bytes, threshold: int, num_shares: int) -> list[Share]:
    """Split a 32-byte ``secret`` into ``num_shares`` shares, any ``threshold`` of which rebuild it.

    ``1 <= threshold <= num_shares <= MAX_SHARES``; ``threshold == 1`` gives no secrecy.
    """
    t, n, raw = _split_values(secret, threshold, num_shares)
    split_id = os.urandom(SPLIT_ID_BYTES)
    make = Share._trusted  # the core guarantees values < p; indices and threshold were checked
    return [make(i + 1, t, split_id, raw[VALUE_BYTES * i : VALUE_BYTES * (i + 1)]) for i in range(n)]


def split_to_bytes(secret: bytes, threshold: int, num_shares: int) -> list[bytes]:
    """:func:`split` with every share already serialised: ``[s.to_bytes() for s in split(...)]``
    in one vectorised pass, without building :class:`Share` objects."""
    t, n, raw = _split_values(secret, threshold, num_shares)
    split_id, header = os.urandom(SPLIT_ID_BYTES), _HEADER.pack
    return [header(FORMAT_VERSION, i + 1, t, split_id) + raw[VALUE_BYTES * i : VALUE_BYTES * (i + 1)]
            for i in range(n)]


def _first_invalid(blobs: Sequence[bytes]) -> int | None:
    """Position of the first entry :meth:`Share.from_bytes` would refuse (None if all parse).

    One pass of ``struct.iter_unpack`` over the joined batch (cheaper than numpy for the few
    dozen shares of a protocol message, and than one :class:`Share` per entry); entries that are
    not ``bytes`` of the right length, and the first one failing a check, are resolved by
    :meth:`Share.from_bytes` itself so its errors stay exact.
    """
    n, start = len(blobs), 0
    if n and set(map(type, blobs)) == {bytes} and set(map(len, blobs)) == {SHARE_BYTES}:
        top = MAX_SHARES
        for pos, (version, index, threshold, _, *words) in enumerate(
                _RECORD.iter_unpack(b"".join(blobs))):
            if version != FORMAT_VERSION or not (0 < index <= top and 0 < threshold <= top) \
                    or max(words) >= PRIME:
                start = pos  # entries before it passed every check
                break
        else:
            return None
    for j in range(start, n):  # the slow path names the exact problem
        try:
            Share.from_bytes(blobs[j])
        except ShamirError:
            return j
    return None  # e.g. bytearray entries: valid, just not the fast path's type


def validate_share_bytes(blobs: Sequence[bytes]) -> None:
    """Check that every entry is a valid :meth:`Share.to_bytes` encoding, as
    :meth:`Share.from_bytes` would (same :class:`ShamirError`), but in one vectorised pass."""
    bad = _first_invalid(blobs)
    if bad is not None:
        Share.from_bytes(blobs[bad])


def shares_from_bytes(blobs: Sequence[bytes]) -> list[Share]:
    """``[Share.from_bytes(b) for b in blobs]`` validated in one vectorised pass: the first
    malformed entry raises the :class:`ShamirError` that :meth:`Share.from_bytes` raises for it."""
    bad = _first_invalid(blobs)
    if bad is not None:
        Share.from_bytes(blobs[bad])
    header, make, size = _HEADER.unpack_from, Share._trusted, _HEADER.size
    out = []
    for blob in blobs:
        blob = bytes(blob)
        _, index, threshold, split_id = header(blob)
        out.append(make(index, threshold, split_id, blob[size:]))
    return out


def _split_values(secret: bytes, threshold: int, num_shares: int) -> tuple[int, int, bytes]:
    """Validate the arguments of :func:`split`; (t, n, the n x 8 share values as LE uint64)."""
    if not isinstance(secret, (bytes, bytearray, memoryview)):
        raise SeedError(f"secret must be {SECRET_BYTES} bytes, got {type(secret).__name__}")
    secret = bytes(secret)
    if len(secret) != SECRET_BYTES:
        raise SeedError(f"secret must be exactly {SECRET_BYTES} bytes, got {len(secret)}")
    n = check_int("num_shares", num_shares, lo=1, hi=MAX_SHARES)
    t = check_int("threshold", threshold, lo=1, hi=n)
    coefficients = _uniform_field_elements((t - 1) * _CHUNKS)
    values = _core.shamir_split(secret, t, n, coefficients)
    return t, n, values.astype("<u8", copy=False).tobytes()


def combine(shares: Sequence[Share]) -> bytes:
    """Rebuild the secret from at least ``threshold`` shares of one :func:`split` call."""
    return _combine_groups([shares], single=True)[0]


def combine_many(groups: Sequence[Sequence[Share]]) -> list[bytes]:
    """Rebuild many secrets at once; equal to ``[combine(g) for g in groups]`` but much faster.

    Coefficients are computed once per distinct (threshold, index set), so a batch whose groups
    share their holders costs O(threshold) per secret. The first bad group raises
    :class:`ShamirError` naming its position.
    """
    if isinstance(groups, (bytes, str)) or not isinstance(groups, Sequence):
        raise ShamirError("groups must be a sequence of sequences of Share")
    return _combine_groups(groups)


_TOO_FEW = 1  # secagg::shamir::Status::kTooFewShares
_GATHER_ERRORS = {  # negative statuses of _core.shamir_combine_shares
    -1: "shares must be a sequence of Share (not an iterator, str or bytes)",
    -2: "no shares given",
    -4: "shares come from different split() calls (mixed secrets)",
    -5: "shares disagree on the threshold (mixed or tampered)",
    -6: "a share has malformed fields",
}


def _describe(code: int, group: Sequence[Share]) -> str:
    if code == -3:
        bad = next(s for s in group if not isinstance(s, Share))
        return f"expected Share objects, got {type(bad).__name__}"
    if code == _TOO_FEW:
        t = group[0].threshold
        return f"not enough shares: got {len(group)}, threshold is {t}; collect at least {t} distinct shares"
    return _GATHER_ERRORS.get(code) or _core.shamir_status_message(code)


MALFORMED_STATUSES = frozenset({-6, 2, 3, 5})
"""Statuses of a group with a share that :meth:`Share.from_bytes` would refuse (wrong length or
version, threshold or index out of range, a value >= p); the others say the shares do not fit
together (mixed splits, duplicate indices, too few, not on one polynomial)."""


def combine_encoded_many(groups: Sequence[Sequence[bytes]]) -> tuple[list[bytes | None], dict[int, tuple[int, str]]]:
    """Rebuild each group of encoded shares (:meth:`Share.to_bytes` output) natively, without
    building :class:`Share` objects: (secrets, None where a group failed; group position ->
    (status, why)). A status in :data:`MALFORMED_STATUSES` means a share is malformed. Unlike
    :func:`combine_many`, a bad group does not stop the others."""
    if isinstance(groups, (bytes, str)) or not isinstance(groups, Sequence):
        raise ShamirError("groups must be a sequence of sequences of encoded shares")
    check_points = _uniform_field_elements(_core.SHAMIR_CHECK_POINTS)
    raw, status = _core.shamir_combine_encoded(groups, FORMAT_VERSION, check_points)
    secrets: list[bytes | None] = [raw[SECRET_BYTES * g : SECRET_BYTES * (g + 1)] for g in range(len(groups))]
    failed: dict[int, tuple[int, str]] = {}
    for g in np.flatnonzero(status).tolist():
        code = int(status[g])
        secrets[g] = None
        if code == -6:
            why = "a share is not a valid encoding (length or format version)"
        elif code == _TOO_FEW:
            why = f"not enough shares: got {len(groups[g])}"
        else:
            why = _GATHER_ERRORS.get(code) or _core.shamir_status_message(code)
        failed[g] = (code, why)
    return secrets, failed


def _combine_groups(groups: Sequence[Sequence[Share]], single: bool = False) -> list[bytes]:
    check_points = _uniform_field_elements(_core.SHAMIR_CHECK_POINTS)
    secrets, status = _core.shamir_combine_shares(groups, Share, check_points)
    bad = np.flatnonzero(status)
    if bad.size:
        g = int(bad[0])
        raise ShamirError(("" if single else f"group {g}: ") + _describe(int(status[g]), groups[g]))
    return [secrets[SECRET_BYTES * g : SECRET_BYTES * (g + 1)] for g in range(len(groups))]
