"""The protocol's stages, in order, and the dropout schedules that name them.

The bottom of the protocol floor: messages, rounds, simulated sessions and every aggregator
import :class:`Stage` from here.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping


class Stage(enum.IntEnum):
    """Protocol stages, in order. A dropout schedule says before which stage a client vanishes."""

    ADVERTISE_KEYS = 0
    SHARE_KEYS = 1
    MASKED_INPUT = 2
    CONSISTENCY_CHECK = 3
    UNMASKING = 4


DropoutSchedule = Mapping[int, Stage]
"""Client id -> the stage *before which* that client vanishes (it sends nothing from then on)."""


def contributes(stage: Stage | None) -> bool:
    """Whether a client that vanishes before ``stage`` (None: never) has sent its input."""
    return stage is None or stage > Stage.MASKED_INPUT
