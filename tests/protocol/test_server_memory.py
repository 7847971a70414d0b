"""The server's state grows with d + n * k, never with n * d: masked vectors are summed as they
arrive (and, in the active model, spooled to disk), share envelopes are kept compactly and dropped
once routed, and a stage's requests are encoded one by one as they are read."""

from __future__ import annotations

import gc
import sys
import types

import numpy as np
import pytest

from secagg.core.crypto import IdentityKey
from secagg.protocol.client import SecAggClient
from secagg.protocol.config import SessionConfig
from secagg.protocol.packing import packed_size
from secagg.protocol.server import SecAggServer
from secagg.protocol.server.requests import Requests
from secagg.protocol.stage import Stage

D = 16_384
DEGREE, THRESHOLD = 6, 5
_OPAQUE = (type, types.ModuleType, types.FunctionType, types.BuiltinFunctionType, types.MethodType)


def retained_bytes(obj: object) -> int:
    """Bytes of every object reachable from ``obj`` (numpy buffers included), each counted once."""
    seen, total, stack = set(), 0, [obj]
    while stack:
        o = stack.pop()
        if id(o) in seen or isinstance(o, _OPAQUE):
            continue
        seen.add(id(o))
        total += sys.getsizeof(o)
        if isinstance(o, np.ndarray) and o.base is None:
            continue  # getsizeof counted its buffer
        stack.extend(gc.get_referents(o))
    return total


def run_session(n: int, active: bool) -> tuple[int, int, np.ndarray]:
    """Drive one honest session; return (largest retained server state, packed vector size, sum)."""
    ids = tuple(range(n))
    keys = {c: IdentityKey() for c in ids} if active else {}
    registry = {c: k.public for c, k in keys.items()}
    cfg = SessionConfig(client_ids=ids, graph_kind="harary", degree=DEGREE, threshold=THRESHOLD,
                        modulus_range=2**24, vector_length=D, clipping_range=1.0, quantization_range=2**8,
                        threat_model="active" if active else "honest-but-curious", max_dropouts=0,
                        graph_seed=None if active else bytes(range(32)))
    rng = np.random.default_rng(n)
    clients = {c: SecAggClient(c, rng.uniform(-1, 1, D), identity=keys.get(c), identity_registry=registry)
               for c in ids}
    server = SecAggServer(cfg, identity_registry=registry)
    most = 0
    requests = server.start()
    while requests:
        assert isinstance(requests, Requests)  # encoded one by one as read, never all at once
        for cid in requests:
            server.receive(cid, clients[cid].handle(requests[cid]))
            if server.stage is Stage.MASKED_INPUT:  # the old server kept every vector from here on
                most = max(most, retained_bytes(server))
        most = max(most, retained_bytes(server))
        requests = server.advance()
    assert server.result is not None and server.result.included == frozenset(ids)
    return most, packed_size(D, cfg.bits), server.result.quantized_sum


@pytest.mark.parametrize("active", [False, True], ids=["honest-but-curious", "active"])
def test_server_state_does_not_grow_with_n_times_d(active):
    small, vector, _ = run_session(12, active)
    large, _, _ = run_session(36, active)
    # 24 more clients: keeping their masked vectors would add 24 * vector bytes; what does grow
    # (keys, shares, commitments: O(k) per client) is far below a third of that
    assert large - small < 8 * vector, (small, large, vector)
    assert small < 6 * vector + 8 * D  # the running sum (8 bytes a value) and O(n * k) bookkeeping
