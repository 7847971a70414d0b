"""One set of argument checks for the whole package (the bottom floor, beside ``errors``).

Each check returns the value in its canonical type or raises the given :mod:`secagg.errors` class
with a message that names the argument and says what to change. Nothing is ever cast silently:
a float is not an int, a bool is neither, and a string is not a number.
"""

from __future__ import annotations

import difflib
import math
import operator
from collections.abc import Collection, Iterable, Mapping
from typing import Any

import numpy as np

from .errors import ConfigError, InputError, SecAggError

MAX_CLIENT_ID = 2**63 - 1


def _bounds(lo: float | None, hi: float | None) -> str:
    if lo is not None and hi is not None:
        return f" in [{_show(lo)}, {_show(hi)}]"
    if lo is not None:
        return f" >= {_show(lo)}"
    if hi is not None:
        return f" <= {_show(hi)}"
    return ""


def _show(bound: float) -> str:
    """Large powers of two read better as 2**k."""
    if isinstance(bound, int) and bound >= 2**16:
        for offset in (0, -1, 1):
            k = (bound - offset).bit_length() - 1
            if bound - offset == 1 << k:
                return f"2**{k}" + ("" if offset == 0 else f" {'+' if offset > 0 else '-'} {abs(offset)}")
    return repr(bound)


def check_int(name: str, value: object, *, lo: int | None = None, hi: int | None = None,
              error: type[SecAggError] = ConfigError) -> int:
    """An ``int`` (or numpy integer) in [lo, hi]; never a bool, a float or a string."""
    if isinstance(value, (bool, np.bool_)):
        raise error(f"{name} must be an int{_bounds(lo, hi)}, got a bool ({value!r})")
    try:
        v = operator.index(value)  # type: ignore[arg-type]
    except TypeError:
        raise error(f"{name} must be an int{_bounds(lo, hi)}, got {type(value).__name__} {value!r:.60}"
                    ) from None
    if (lo is not None and v < lo) or (hi is not None and v > hi):
        raise error(f"{name} must be an int{_bounds(lo, hi)}, got {_show(v)}")
    return v


def check_optional_int(name: str, value: object, *, lo: int | None = None, hi: int | None = None,
                       error: type[SecAggError] = ConfigError) -> int | None:
    """``None`` or :func:`check_int`."""
    return None if value is None else check_int(name, value, lo=lo, hi=hi, error=error)


def check_float(name: str, value: object, *, lo: float | None = None, hi: float | None = None,
                lo_open: bool = False, hi_open: bool = False,
                error: type[SecAggError] = ConfigError) -> float:
    """A finite real number (int, float or numpy scalar, never a bool or a string) in the given
    interval; ``lo_open`` / ``hi_open`` exclude the bound itself."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise error(f"{name} must be a number, got {type(value).__name__} {value!r:.60}")
    v = float(value)
    if not math.isfinite(v) or (lo is not None and (v < lo or (lo_open and v == lo))) or (
            hi is not None and (v > hi or (hi_open and v == hi))):
        raise error(f"{name} must be {_interval(lo, hi, lo_open, hi_open)}, got {value!r}")
    return v


def _interval(lo: float | None, hi: float | None, lo_open: bool, hi_open: bool) -> str:
    if lo is not None and hi is not None:
        if lo_open and hi_open:
            return f"in the open interval ({lo:g}, {hi:g})"
        return f"in {'(' if lo_open else '['}{lo:g}, {hi:g}{')' if hi_open else ']'}"
    if lo is not None:
        return f"finite and {'>' if lo_open else '>='} {lo:g}"
    if hi is not None:
        return f"finite and {'<' if hi_open else '<='} {hi:g}"
    return "finite"


def check_bytes(name: str, value: object, *, length: int | None = None,
                error: type[SecAggError] = ConfigError) -> bytes:
    """Bytes (or bytearray / memoryview), of exactly ``length`` bytes when given."""
    if not isinstance(value, (bytes, bytearray, memoryview)):
        size = "" if length is None else f" of length {length}"
        raise error(f"{name} must be bytes{size}, got {type(value).__name__}")
    out = bytes(value)
    if length is not None and len(out) != length:
        raise error(f"{name} has {len(out)} bytes; it must be exactly {length} bytes")
    return out


def check_choice(name: str, value: object, choices: Collection[str],
                 error: type[SecAggError] = ConfigError) -> str:
    """One of ``choices``; a near miss is named (``'secagg++'``: did you mean ``'secagg+'``?)."""
    if isinstance(value, str) and value in choices:
        return value
    raise error(f"{name} must be one of {', '.join(map(repr, choices))}, got {value!r}"
                + did_you_mean(value, choices))


def check_client_id(value: object, name: str = "client id") -> int:
    """A client id: an int in [0, 2**63 - 1] (never a bool, float, string or None)."""
    return check_int(name, value, lo=0, hi=MAX_CLIENT_ID, error=InputError)


def check_client_ids(values: Iterable[object]) -> list[int]:
    """Client ids, each checked by :func:`check_client_id` before any is sorted or compared."""
    return [check_client_id(v) for v in values]


def check_options(owner: str, given: Mapping[str, Any], valid: Iterable[str]) -> None:
    """Refuse an option name ``owner`` does not take, naming the closest valid one."""
    allowed = sorted(valid)
    unknown = [key for key in given if key not in allowed]
    if unknown:
        key = unknown[0]
        takes = f"its options are {', '.join(allowed)}" if allowed else "it takes no options"
        raise ConfigError(f"{owner} has no option {key!r}{did_you_mean(key, allowed)}; {takes}")


def did_you_mean(value: object, choices: Iterable[str]) -> str:
    """`` (did you mean 'x'?)`` for the closest of ``choices``, or nothing."""
    if not isinstance(value, str):
        return ""
    close = difflib.get_close_matches(value, list(choices), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""
