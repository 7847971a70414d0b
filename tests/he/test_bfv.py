"""he-bfv: homomorphic sums of quantized updates are exact."""

from __future__ import annotations

import os

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from secagg import Stage, create_aggregator, dequantize, quantize
from secagg.he import Client, Server

LEVELS = 2**12


@settings(max_examples=12)
@given(data=st.data(), dim=st.integers(1, 6000), num_clients=st.integers(2, 8))
def test_integer_sums_are_exact_for_random_inputs_and_subsets(bfv, data, dim, num_clients):
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    values = {cid: rng.integers(0, LEVELS, dim, dtype=np.uint32) for cid in range(num_clients)}
    subset = data.draw(st.sets(st.sampled_from(range(num_clients)), min_size=2))
    tag = bfv.new_round_tag()
    server = Server(bfv.scheme, bfv.key_holder.public_context(), dim=dim, round_tag=tag)
    for cid in sorted(subset):
        server.receive(cid, bfv.client.encrypt_encoded(values[cid], round_tag=tag))
    total, count = bfv.key_holder.decrypt_sum(server.aggregate())
    expected = np.sum([values[c].astype(np.uint64) for c in subset], axis=0)
    assert count == len(subset)
    np.testing.assert_array_equal(total, expected)


def test_float_sum_equals_dequantized_sum_of_the_quantized_updates(bfv):
    """With fixed rounding seeds the whole float pipeline is deterministic and exact."""
    rng = np.random.default_rng(5)
    dim, ids = 9000, [3, 5, 8]  # 9000 values -> 3 ciphertexts of 4096 slots
    updates = {cid: rng.uniform(-1.5, 1.5, dim) for cid in ids}  # some values get clipped
    seeds = {cid: os.urandom(32) for cid in ids}
    tag = bfv.new_round_tag()
    payloads = {cid: bfv.client.encrypt(updates[cid], round_tag=tag, rounding_seed=seeds[cid])
                for cid in ids}
    result = bfv.aggregate_payloads(payloads, dim=dim, round_tag=tag)
    p = bfv.params
    quantized = sum(quantize(updates[c], clipping_range=1.0, quantization_range=LEVELS,
                             rounding_seed=seeds[c]).astype(np.uint64) for c in ids)
    expected = dequantize(quantized, clipping_range=1.0, quantization_range=LEVELS,
                          modulus_range=p.plain_modulus, num_clients=3)
    np.testing.assert_array_equal(result.total, expected)
    assert result.included == frozenset(ids)
    clipped = np.sum([np.clip(updates[c], -1, 1) for c in ids], axis=0)
    assert np.max(np.abs(result.total - clipped)) <= bfv.error_bound(3)


def test_full_ciphertexts_and_byte_accounting(bfv):
    rng = np.random.default_rng(1)
    dim = 2 * bfv.params.slots + 1
    updates = {cid: rng.uniform(-1, 1, dim) for cid in range(4)}
    result = bfv.aggregate(updates, dropouts={0: Stage.ADVERTISE_KEYS, 1: Stage.UNMASKING})
    assert result.included == frozenset({1, 2, 3})
    assert set(result.bytes_sent) == {1, 2, 3} and not result.rejected
    one_ct = result.bytes_sent[1]["MASKED_INPUT"] / 3
    assert 0.5 * 2 * 4096 * 60 / 8 < one_ct < 2 * 4096 * 8 + 4096  # ~2 polys of 60-bit coeffs
    expected = np.sum([updates[c] for c in (1, 2, 3)], axis=0)
    assert np.max(np.abs(result.total - expected)) <= bfv.error_bound(3)
    assert result.seconds["client"] > 0 and result.seconds["server"] > 0


def test_default_settings_handle_twenty_clients_of_ten_thousand_values():
    agg = create_aggregator("he-bfv")
    rng = np.random.default_rng(2)
    updates = {cid: rng.uniform(-1, 1, 10_000) for cid in range(20)}
    result = agg.aggregate(updates, round_index=4)
    expected = np.sum(list(updates.values()), axis=0)
    assert result.num_included == 20
    assert np.max(np.abs(result.total - expected)) <= agg.error_bound(20)


def test_public_client_object_is_independent_of_the_aggregator(bfv):
    """A stand-alone client built from the published bytes produces acceptable uploads."""
    client = Client(bfv.scheme, bfv.key_holder.public_context())
    tag = bfv.new_round_tag()
    payloads = {c: client.encrypt(np.full(10, 0.25), round_tag=tag) for c in (1, 2)}
    result = bfv.aggregate_payloads(payloads, dim=10, round_tag=tag)
    np.testing.assert_allclose(result.total, 0.5, atol=bfv.error_bound(2))


def test_every_encryption_path_gives_the_same_sums(bfv, monkeypatch):
    """C++ vector + memoryview (default), C++ vector + list, and TenSEAL's public API."""
    import tenseal as ts

    from secagg.he.schemes import BFVScheme

    values = {cid: np.arange(cid, cid + 5000, dtype=np.uint32) % LEVELS for cid in (1, 2, 3)}
    expected = np.sum([v.astype(np.uint64) for v in values.values()], axis=0)

    class ListOnly:  # a binding that refuses anything but a list
        def __init__(self, data, seq):
            if not isinstance(seq, list):
                raise TypeError("list expected")
            self._vec = ts._ts_cpp.BFVVector(data, seq)

        def serialize(self):
            return self._vec.serialize()

    for native in ("default", ListOnly, None):
        scheme = BFVScheme(bfv.params)
        if native != "default":
            scheme._native_vector = native
        client = Client(scheme, bfv.key_holder.public_context())
        tag = bfv.new_round_tag()
        server = Server(bfv.scheme, bfv.key_holder.public_context(), dim=5000, round_tag=tag)
        for cid, v in values.items():
            server.receive(cid, client.encrypt_encoded(v, round_tag=tag))
        total, _ = bfv.key_holder.decrypt_sum(server.aggregate())
        np.testing.assert_array_equal(total, expected)
