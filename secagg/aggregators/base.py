"""The one interface every aggregator implements, and the registry that builds them by name.

``plain`` (no privacy, the reference), ``secagg``, ``secagg+``, ``he-bfv`` and ``he-ckks`` all take
the clients' float updates of one round and return the sum over the clients that were included.
Training loops, the simulator and the benchmarks only ever talk to :class:`Aggregator`.
"""

from __future__ import annotations

import abc
import functools
import inspect
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from .._validate import check_client_id, check_client_ids, check_int, check_options
from ..core.prg import MAX_VECTOR_ELEMENTS
from ..errors import DTypeError, InputError, NonFiniteError, ShapeError
from ..protocol.stage import DropoutSchedule, Stage, check_dropouts


@dataclass(frozen=True)
class AggregationResult:
    """What one aggregation round produced.

    ``total`` is the float64 sum of the included clients' updates (de-quantized where the
    aggregator quantizes). Byte counts are per client id, per stage name.
    """

    total: np.ndarray
    included: frozenset[int]
    bytes_sent: Mapping[int, Mapping[str, int]] = field(default_factory=dict)
    bytes_received: Mapping[int, Mapping[str, int]] = field(default_factory=dict)
    seconds: Mapping[str, float] = field(default_factory=dict)

    @property
    def num_included(self) -> int:
        return len(self.included)

    def mean(self) -> np.ndarray:
        """The average over included clients."""
        if not self.included:
            raise InputError("no client was included in the aggregate")
        return self.total / len(self.included)

    def total_bytes_sent(self) -> int:
        return sum(sum(per_stage.values()) for per_stage in self.bytes_sent.values())

    def total_bytes_received(self) -> int:
        return sum(sum(per_stage.values()) for per_stage in self.bytes_received.values())


class Aggregator(abc.ABC):
    """Sums the clients' updates of one round; subclasses decide how privately.

    Options are explicit keyword arguments of each subclass's constructor: an option it does not
    take is a :class:`~secagg.errors.ConfigError` naming the closest one it does (checked before
    the constructor runs, whether it is called directly or through ``create_aggregator``).
    """

    name: ClassVar[str]
    _prepared_round: PreparedRound | None = None  # set by prepare(), checked by submit()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        init = cls.__dict__.get("__init__")
        if init is None or _takes_any_keyword(init):
            return  # inherited (already checked) or checks its own options

        names = _keyword_names(init)

        @functools.wraps(init)
        def checked_init(self: Aggregator, *args: Any, **options: Any) -> None:
            check_options(f"aggregator {getattr(type(self), 'name', type(self).__name__)!r}", options, names)
            init(self, *args, **options)

        cls.__init__ = checked_init  # type: ignore[method-assign]

    @classmethod
    def option_names(cls) -> list[str]:
        """The keyword options this aggregator's constructor takes."""
        return _keyword_names(inspect.unwrap(cls.__init__))

    @abc.abstractmethod
    def aggregate(
        self,
        updates: Mapping[int, np.ndarray],
        *,
        dropouts: DropoutSchedule | None = None,
        round_index: int = 0,
    ) -> AggregationResult:
        """Aggregate one round.

        ``updates`` maps client id -> 1-D float array (all of one length). ``dropouts`` says which
        clients vanish before which stage; an aggregator that cannot finish (e.g. fewer survivors
        than its threshold) raises :class:`secagg.errors.ThresholdError`.
        """

    def prepare(self, client_ids: Sequence[int], *, vector_length: int,
                dropouts: DropoutSchedule | None = None, round_index: int = 0) -> None:
        """Optionally start a round's input-independent work before the updates exist.

        A trainer calls this right after sampling, then trains, then calls :meth:`aggregate` with
        the updates of exactly ``client_ids`` and the same ``dropouts``. The secure aggregators
        run their key agreement and secret sharing meanwhile (as devices would while training);
        the default only checks and records the round, and :meth:`aggregate` always works without
        it. Between the two, :meth:`submit` may hand over each update as soon as it is trained.
        """
        self._prepared_round = check_round(client_ids, vector_length, dropouts)

    def submit(self, client_id: int, update: np.ndarray) -> None:
        """Optionally hand over one prepared client's update as soon as it is ready (the same
        array must then be in :meth:`aggregate`'s ``updates``). It is checked at once against the
        prepared round (:class:`~secagg.errors.InputError` without one); the default keeps nothing."""
        prepared = self._prepared_round
        if prepared is None:
            raise InputError("submit() needs a prepared round: call prepare() first")
        check_submission(client_id, update, prepared.client_ids, prepared.vector_length)

    def close(self) -> None:  # noqa: B027 - optional hook, a no-op unless overridden
        """Release what the aggregator holds between rounds (e.g. worker processes)."""


def _takes_any_keyword(init: Any) -> bool:
    return any(p.kind is p.VAR_KEYWORD for p in inspect.signature(init).parameters.values())


def _keyword_names(init: Any) -> list[str]:
    return [p.name for p in list(inspect.signature(init).parameters.values())[1:]
            if p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD)]


def validate_updates(updates: Mapping[int, np.ndarray]) -> tuple[list[int], np.ndarray]:
    """Check a round's updates and stack them: returns (sorted client ids, float64 matrix)."""
    ids, _ = check_updates(updates)
    return ids, np.stack([np.asarray(updates[cid]).astype(np.float64, copy=False) for cid in ids])


def check_updates(updates: Mapping[int, np.ndarray]) -> tuple[list[int], int]:
    """Check a round's updates without copying them: returns (sorted client ids, length)."""
    if not isinstance(updates, Mapping) or len(updates) == 0:
        raise InputError("updates must be a non-empty mapping of client id -> 1-D float array")
    ids = sorted(check_client_ids(updates))
    length = None
    for cid in ids:
        arr = np.asarray(updates[cid])
        if arr.dtype.kind != "f":
            raise DTypeError(f"update of client {cid} has dtype {arr.dtype}; expected a float array")
        if arr.ndim != 1:
            raise ShapeError(f"update of client {cid} has shape {arr.shape}; expected 1-D")
        if length is None:
            length = arr.shape[0]
        elif arr.shape[0] != length:
            raise ShapeError(f"update of client {cid} has length {arr.shape[0]}; others have {length}")
        if not np.isfinite(arr).all():
            raise NonFiniteError(f"update of client {cid} contains NaN or infinity")
    assert length is not None
    return [int(c) for c in ids], length


@dataclass(frozen=True)
class PreparedRound:
    """What :meth:`Aggregator.prepare` was told: sorted client ids, vector length, dropouts."""

    client_ids: tuple[int, ...]
    vector_length: int
    dropouts: dict[int, Stage]


def check_round(client_ids: Sequence[int], vector_length: int,
                dropouts: DropoutSchedule | None) -> PreparedRound:
    """The arguments of :meth:`Aggregator.prepare`, checked before any work."""
    if isinstance(client_ids, (str, bytes)) or not isinstance(client_ids, Iterable):
        raise InputError(f"client_ids must be a sequence of client ids, got {type(client_ids).__name__}")
    ids = tuple(sorted(check_client_ids(client_ids)))
    if len(set(ids)) != len(ids):
        raise InputError("client_ids of a round must be distinct")
    length = check_int("vector_length", vector_length, lo=1, hi=MAX_VECTOR_ELEMENTS, error=ShapeError)
    return PreparedRound(ids, length, check_dropouts(dropouts, ids))


def check_submission(client_id: int, update: np.ndarray, client_ids: Sequence[int],
                     vector_length: int) -> None:
    """An update handed to :meth:`Aggregator.submit` must be a prepared client's valid vector."""
    check_client_id(client_id)
    if client_id not in client_ids:
        raise InputError(f"client {client_id} is not part of the prepared round")
    _, length = check_updates({client_id: update})
    if length != vector_length:
        raise ShapeError(f"update of client {client_id} has length {length}; the round was "
                         f"prepared for {vector_length}")


def changed_submissions(submitted: Mapping[int, np.ndarray], updates: Mapping[int, np.ndarray]) -> list[int]:
    """Clients whose update in :meth:`Aggregator.aggregate` differs from what they submitted."""
    return [cid for cid, arr in submitted.items() if not np.array_equal(arr, updates[cid])]


def submission_changed_error(changed: Sequence[int]) -> InputError:
    return InputError(f"the updates of clients {list(changed)[:5]} differ from what they submitted")
