"""Shared helpers for the protocol tests: an independent oracle of who survives which stage."""

from __future__ import annotations

import numpy as np

import secagg
from secagg.protocol.graphs import Graph
from secagg.protocol.stage import Stage


def alive(schedule, cid, stage: Stage) -> bool:
    gone = schedule.get(cid)
    return gone is None or gone > stage


def expected_outcome(graph: Graph, t: int, schedule, active: bool):
    """("ok", included) or ("abort", stage name), from the protocol rules alone."""
    ids = set(graph.client_ids)
    group = graph.group

    def enough(pool, who):
        return {c for c in who if len(pool & group(c)) >= t}

    u1 = {c for c in ids if alive(schedule, c, Stage.ADVERTISE_KEYS)}
    if len(u1) < t:
        return "abort", "ADVERTISE_KEYS"
    u2 = {c for c in enough(u1, u1) if alive(schedule, c, Stage.SHARE_KEYS)}
    if len(u2) < t:
        return "abort", "SHARE_KEYS"
    u3 = {c for c in enough(u2, u2) if alive(schedule, c, Stage.MASKED_INPUT)}
    if len(u3) < t:
        return "abort", "MASKED_INPUT"
    if active:
        u4 = {c for c in enough(u3, u3) if alive(schedule, c, Stage.CONSISTENCY_CHECK)}
        if len(u4) < t:
            return "abort", "CONSISTENCY_CHECK"
        u5 = {c for c in enough(u4, u4) if alive(schedule, c, Stage.UNMASKING)}
    else:
        u5 = {c for c in u3 if alive(schedule, c, Stage.UNMASKING)}
    if len(u5) < t:
        return "abort", "UNMASKING"
    for u in u3:
        if len(group(u) & u5) < t:
            return "abort", "UNMASKING"
    for u in u2 - u3:
        if graph.neighbors(u) & u3 and len(graph.neighbors(u) & u5) < t:
            return "abort", "UNMASKING"
    return "ok", frozenset(u3)


def quantized_sum(updates, seeds, included, *, clipping_range, quantization_range, modulus_range):
    total = np.zeros(len(next(iter(updates.values()))), dtype=np.uint64)
    for cid in included:
        u = updates[cid]
        q = u if u.dtype.kind == "u" else secagg.quantize(
            u, clipping_range=clipping_range, quantization_range=quantization_range,
            rounding_seed=seeds[cid])
        total += q.astype(np.uint64)
    return total & np.uint64(modulus_range - 1)
