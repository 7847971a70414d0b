"""The protocol's stages, in order, and the dropout schedules that name them.

The bottom of the protocol floor: messages, rounds, simulated sessions and every aggregator
import :class:`Stage` from here.
"""

from __future__ import annotations

import enum
from collections.abc import Collection, Mapping

from .._validate import check_client_id, check_int
from ..errors import InputError


class Stage(enum.IntEnum):
    """Protocol stages, in order. A dropout schedule says before which stage a client vanishes.

    ``GRAPH_SEED`` (clients reveal the nonces that make the SecAgg+ graph) runs only in active
    SecAgg+ sessions and ``CONSISTENCY_CHECK`` only in active sessions; other sessions skip them.
    ``EXCLUSION`` runs only when the unmasking proves that a client dealt shares it cannot stand by:
    its neighbours then help remove it from the sum.
    """

    ADVERTISE_KEYS = 0
    GRAPH_SEED = 1
    SHARE_KEYS = 2
    MASKED_INPUT = 3
    CONSISTENCY_CHECK = 4
    UNMASKING = 5
    EXCLUSION = 6


DropoutSchedule = Mapping[int, Stage]
"""Client id -> the stage *before which* that client vanishes (it sends nothing from then on)."""


def check_dropouts(dropouts: Mapping[int, Stage] | None,
                   client_ids: Collection[int] | None = None) -> dict[int, Stage]:
    """A dropout schedule as ``{client id: Stage}``, checked before any work: every key a client
    id (of ``client_ids`` when given), every value a :class:`Stage` or its int value."""
    if dropouts is None:
        return {}
    if not isinstance(dropouts, Mapping):
        raise InputError(f"dropouts must map client id -> Stage, got {type(dropouts).__name__}")
    schedule = {}
    for key, stage in dropouts.items():
        cid = check_client_id(key, "a client id in dropouts")
        try:
            schedule[cid] = Stage(check_int("stage", stage, lo=min(Stage), hi=max(Stage), error=InputError))
        except InputError:
            valid = ", ".join(f"Stage.{s.name}" for s in Stage)
            raise InputError(f"the dropout stage of client {cid} must be one of {valid} (the stage "
                             f"before which it vanishes), got {stage!r:.40}") from None
    if client_ids is not None:
        unknown = set(schedule) - set(client_ids)
        if unknown:
            raise InputError(f"dropout schedule names unknown clients {sorted(unknown)[:5]}")
    return schedule


def contributes(stage: Stage | None) -> bool:
    """Whether a client that vanishes before ``stage`` (None: never) has sent its input."""
    return stage is None or stage > Stage.MASKED_INPUT
