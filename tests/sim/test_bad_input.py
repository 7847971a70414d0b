"""Hostile arguments to a simulated session: each is refused with a specific secagg error before any
work (no key is generated, no client runs), naming what to change."""

from __future__ import annotations

import msgpack
import numpy as np
import pytest

import secagg
from secagg import Stage
from secagg.errors import DTypeError, InputError, ModulusError, NonFiniteError, SeedError, ShapeError
from secagg.sim import make_session

D = 8


def inputs(n: int = 4, dtype=np.float64) -> dict[int, np.ndarray]:
    return {c: np.full(D, 0.25, dtype=dtype) for c in range(n)}


@pytest.mark.parametrize("ids", [[0, "1", 2], [0, None, 2], [0, 1.0, 2], [0, -1, 2], [0, True, 2]])
def test_client_ids_of_the_wrong_type_are_refused(ids):
    with pytest.raises(InputError, match="client id"):
        secagg.simulate({cid: np.zeros(D) for cid in ids})
    with pytest.raises(InputError, match="client id"):
        make_session(ids, vector_length=D)


@pytest.mark.parametrize("stage", ["SHARE_KEYS", 7, -1, 1.5, None, True])
def test_a_dropout_stage_must_be_a_stage(stage):
    with pytest.raises(InputError, match="dropout stage of client 1 must be one of Stage.ADVERTISE_KEYS"):
        secagg.simulate(inputs(), dropouts={1: stage})


def test_a_dropout_stage_given_as_its_int_is_that_stage():
    by_int = secagg.simulate(inputs(5), dropouts={1: int(Stage.SHARE_KEYS)}, protocol="secagg")
    assert 1 not in by_int.included and len(by_int.included) == 4


def test_an_input_longer_than_any_kernel_takes_is_refused_before_any_copy():
    huge = np.broadcast_to(np.zeros(1), (2**31,))  # 16 GiB if it were ever materialised
    with pytest.raises(ShapeError, match="input length must be an int in"):
        secagg.simulate({0: huge, 1: huge})


@pytest.mark.parametrize("dtype", [np.float16, np.longdouble, np.int32, np.complex128])
def test_inputs_of_an_unsupported_dtype_are_refused(dtype):
    with pytest.raises(DTypeError, match="float32/float64"):
        secagg.simulate(inputs(dtype=dtype))


def test_a_quantized_input_at_or_above_q_is_refused_naming_the_client():
    quantized = {c: np.full(D, 3, dtype=np.uint32) for c in range(4)}
    quantized[2][5] = 16
    with pytest.raises(InputError, match="client 2 has values >= quantization_range = 16"):
        secagg.simulate(quantized, quantization_range=16)


def test_non_finite_inputs_are_refused():
    bad = inputs()
    bad[3][0] = np.inf
    with pytest.raises(NonFiniteError, match="client 3"):
        secagg.simulate(bad)


@pytest.mark.parametrize("seeds, error", [({0: b"short"}, SeedError), ({0: "x" * 32}, SeedError),
                                          ({9: bytes(32)}, InputError), ({"0": bytes(32)}, InputError)])
def test_bad_rounding_seeds_are_refused(seeds, error):
    with pytest.raises(error, match="rounding_seeds"):
        secagg.simulate(inputs(), rounding_seeds=seeds)


def test_a_modulus_of_2_to_the_64_works_end_to_end():
    q = 2**53 + 1
    rng = np.random.default_rng(1)
    quantized = {c: rng.integers(0, q, D, dtype=np.uint64) for c in range(3)}
    res = secagg.simulate(quantized, protocol="secagg", quantization_range=q, modulus_range=2**64)
    assert res.config.modulus_range == 2**64
    exact = sum(int(v) for v in (quantized[c][0] for c in range(3)))
    assert int(res.quantized_sum[0]) == exact % 2**64


def test_the_default_modulus_can_be_2_to_the_64_and_its_config_encodes():
    session = make_session(range(1024), vector_length=1, quantization_range=2**53 + 1)
    try:
        assert session.config.modulus_range == 2**64  # 1024 * 2**53 needs 64 bits
        msgpack.packb(session.config.to_wire())
    finally:
        session.close()


@pytest.mark.parametrize("modulus", [2**64 + 1, 2**65, 3 * 2**10, 1, 2.0**20])
def test_a_modulus_the_protocol_cannot_use_is_refused(modulus):
    with pytest.raises(ModulusError):
        secagg.simulate(inputs(), modulus_range=modulus)
