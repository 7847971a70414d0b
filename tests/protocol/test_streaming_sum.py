"""The server sums masked vectors as they arrive: any arrival order gives the sum of the old order
(every vector kept, then added in id order), and the session's unmasked result is the plain sum."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from secagg.core.quantize import quantize
from secagg.protocol.client import SecAggClient
from secagg.protocol.config import SessionConfig
from secagg.protocol.packing import pack, unpack, unpack_into
from secagg.protocol.server import SecAggServer
from secagg.protocol.stage import Stage


@settings(max_examples=60, deadline=None)
@given(bits=st.integers(1, 64), d=st.integers(1, 40), count=st.integers(1, 8), data=st.data())
def test_streamed_sum_equals_the_kept_then_summed_sum(bits, d, count, data):
    top = (1 << bits) - 1
    vectors = [np.array(data.draw(st.lists(st.integers(0, top), min_size=d, max_size=d)), dtype=np.uint64)
               for _ in range(count)]
    order = data.draw(st.permutations(range(count)))
    packed = [pack(v, bits) for v in vectors]
    streamed = None  # the server's way: each arrival unpacked straight into the running sum
    for i in order:
        if streamed is None:
            streamed = unpack_into(packed[i], d, bits, np.empty(d, dtype=np.uint64))
        else:
            unpack_into(packed[i], d, bits, streamed, add=True)
    kept = [unpack(p, d, bits) for p in packed]  # the old way: keep all, add in id order
    mask = np.uint64(top)
    assert np.array_equal(streamed & mask, np.sum(np.stack(kept), axis=0, dtype=np.uint64) & mask)
    assert [int(x) for x in streamed & mask] == [sum(int(v[j]) for v in vectors) & top for j in range(d)]


N, D = 6, 48


@settings(max_examples=12, deadline=None)
@given(order=st.permutations(range(N)), seed=st.integers(0, 2**32 - 1))
def test_a_session_is_exact_whatever_order_masked_inputs_arrive_in(order, seed):
    cfg = SessionConfig(client_ids=tuple(range(N)), graph_kind="harary", degree=4, threshold=3,
                        modulus_range=2**20, vector_length=D, clipping_range=1.0, quantization_range=2**8,
                        graph_seed=bytes(32))
    rng = np.random.default_rng(seed)
    inputs = {c: rng.uniform(-1, 1, D) for c in range(N)}
    rounding = {c: rng.bytes(32) for c in range(N)}
    clients = {c: SecAggClient(c, inputs[c], rounding_seed=rounding[c]) for c in range(N)}
    server = SecAggServer(cfg)
    requests = server.start()
    while requests:
        ids = list(order) if server.stage is Stage.MASKED_INPUT else list(requests)
        for cid in ids:
            server.receive(cid, clients[cid].handle(requests[cid]))
        requests = server.advance()
    expected = sum(quantize(inputs[c], clipping_range=1.0, quantization_range=2**8,
                            rounding_seed=rounding[c]).astype(np.int64) for c in range(N))
    assert server.result is not None and server.result.included == frozenset(range(N))
    assert np.array_equal(server.result.quantized_sum.astype(np.int64), expected % 2**20)
