"""Shared helpers for the protocol tests: an independent oracle of who survives which stage."""

from __future__ import annotations

import numpy as np

import secagg
from secagg.protocol.graphs import Graph
from secagg.protocol.graphseed import max_left_out
from secagg.protocol.stage import Stage


def alive(schedule, cid, stage: Stage) -> bool:
    gone = schedule.get(cid)
    return gone is None or gone > stage


def expected_outcome(graph: Graph, t: int, schedule, active: bool, *, clients_seed: bool = False,
                     max_dropouts: int = 0):
    """("ok", included, t) or ("abort", stage name, threshold named by the error), from the
    protocol rules alone. ``clients_seed``: an active SecAgg+ session (its clients draw the graph
    seed, and refuse a survivor set below n - ``max_dropouts``)."""
    ids = set(graph.client_ids)
    group = graph.group

    def enough(pool, who):
        return {c for c in who if len(pool & group(c)) >= t}

    u1 = {c for c in ids if alive(schedule, c, Stage.ADVERTISE_KEYS)}
    if len(u1) < t:
        return "abort", "ADVERTISE_KEYS", t
    if clients_seed:
        revealed = {c for c in u1 if alive(schedule, c, Stage.GRAPH_SEED)}
        allowed = max_left_out(len(u1))
        if len(u1) - len(revealed) > allowed:
            return "abort", "GRAPH_SEED", len(u1) - allowed
        if len(revealed) < t:
            return "abort", "GRAPH_SEED", t
        u1 = revealed
    u2 = {c for c in enough(u1, u1) if alive(schedule, c, Stage.SHARE_KEYS)}
    if len(u2) < t:
        return "abort", "SHARE_KEYS", t
    u3 = {c for c in enough(u2, u2) if alive(schedule, c, Stage.MASKED_INPUT)}
    if len(u3) < t:
        return "abort", "MASKED_INPUT", t
    if active:
        if clients_seed and len(u3) < len(ids) - max_dropouts:
            return "abort", "CONSISTENCY_CHECK", t  # every survivor refuses: nobody replies
        u4 = {c for c in enough(u3, u3) if alive(schedule, c, Stage.CONSISTENCY_CHECK)}
        if len(u4) < t:
            return "abort", "CONSISTENCY_CHECK", t
        u5 = {c for c in enough(u4, u4) if alive(schedule, c, Stage.UNMASKING)}
    else:
        u5 = {c for c in u3 if alive(schedule, c, Stage.UNMASKING)}
    if len(u5) < t:
        return "abort", "UNMASKING", t
    for u in u3:
        if len(group(u) & u5) < t:
            return "abort", "UNMASKING", t
    for u in u2 - u3:
        if graph.neighbors(u) & u3 and len(graph.neighbors(u) & u5) < t:
            return "abort", "UNMASKING", t
    return "ok", frozenset(u3), t


def quantized_sum(updates, seeds, included, *, clipping_range, quantization_range, modulus_range):
    total = np.zeros(len(next(iter(updates.values()))), dtype=np.uint64)
    for cid in included:
        u = updates[cid]
        q = u if u.dtype.kind == "u" else secagg.quantize(
            u, clipping_range=clipping_range, quantization_range=quantization_range,
            rounding_seed=seeds[cid])
        total += q.astype(np.uint64)
    return total & np.uint64(modulus_range - 1)
