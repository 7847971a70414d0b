"""The ``plain`` aggregator: sums float updates in the clear. No privacy; the reference."""

from __future__ import annotations

import time
from collections.abc import Mapping

import numpy as np

from ..errors import ThresholdError
from ..protocol.stage import DropoutSchedule, check_dropouts, contributes
from .base import AggregationResult, Aggregator, validate_updates


class PlainAggregator(Aggregator):
    """Each surviving client uploads its update as float32; the server adds them.

    It takes no options: nothing is clipped, quantized or masked.
    """

    name = "plain"

    def __init__(self) -> None:
        pass

    def aggregate(
        self,
        updates: Mapping[int, np.ndarray],
        *,
        dropouts: DropoutSchedule | None = None,
        round_index: int = 0,
    ) -> AggregationResult:
        ids, matrix = validate_updates(updates)
        dropouts = check_dropouts(dropouts, ids)
        start = time.perf_counter()
        keep = [i for i, cid in enumerate(ids) if contributes(dropouts.get(cid))]
        if not keep:
            raise ThresholdError("no client survived to upload its update", stage="MASKED_INPUT",
                                 survivors=0, threshold=1)
        sent = matrix[keep].astype(np.float32)
        total = sent.astype(np.float64).sum(axis=0)
        elapsed = time.perf_counter() - start
        nbytes = int(sent.shape[1]) * 4
        included = frozenset(ids[i] for i in keep)
        return AggregationResult(
            total=total,
            included=included,
            bytes_sent={cid: {"MASKED_INPUT": nbytes} for cid in included},
            bytes_received={cid: {"MASKED_INPUT": 0} for cid in included},
            seconds={"server": elapsed, "client": 0.0},
        )
