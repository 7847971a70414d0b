"""Inputs the fuzzers found or start from, replayed in the normal suite (see .ci/fuzz).

Every file of tests/fuzz/corpus/decoders and tests/fuzz/regressions/decoders goes through the
Python decoders as the Atheris target does; the crash inputs of the native targets have a focused
test here each.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

import secagg
from secagg.core.prg import available_backends, set_backend

pytest.importorskip("google.protobuf")

FUZZ_DIR = Path(__file__).resolve().parents[1] / "fuzz"
INPUTS = sorted(p for d in ("corpus/decoders", "regressions/decoders") for p in (FUZZ_DIR / d).glob("*")
                if p.is_file())


def _decoders():
    spec = importlib.util.spec_from_file_location("secagg_fuzz_decoders", FUZZ_DIR / "decoders.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_seed_corpus_covers_every_decoder():
    kinds = {p.read_bytes()[0] % len(_decoders().DECODERS) for p in INPUTS if p.stat().st_size}
    assert kinds == set(range(len(_decoders().DECODERS)))


@pytest.mark.parametrize("path", INPUTS, ids=lambda p: p.name)
def test_decoder_input_is_refused_cleanly_or_round_trips(path):
    _decoders().decode_one(path.read_bytes())


@pytest.mark.parametrize("backend", available_backends())
def test_finite_float_update_with_huge_clipping_range_is_not_called_non_finite(backend):
    """fuzz_capi crash (tests/fuzz/regressions/fuzz_capi): the AVX2 float kernel widened its
    non-finite mask with an undefined upper half, so a finite float32 update could be refused as
    NaN/inf and the error scan read past the chunk. 464 zeros, clipping 3.45e85, R = 2^64."""
    set_backend(backend)
    try:
        out = secagg.quantize_and_mask(np.zeros(464, np.float32), clipping_range=3.4542692525845175e85,
                                       quantization_range=1280, modulus_range=2**64, self_seed=b"s" * 32,
                                       peer_seeds=[b"a" * 32, b"b" * 32, b"c" * 32], peer_signs=[1, -1, 1],
                                       rounding_seed=b"r" * 32, threads=3)
        plain = secagg.quantize_and_mask(np.zeros(464, np.float64), clipping_range=3.4542692525845175e85,
                                         quantization_range=1280, modulus_range=2**64, self_seed=b"s" * 32,
                                         peer_seeds=[b"a" * 32, b"b" * 32, b"c" * 32], peer_signs=[1, -1, 1],
                                         rounding_seed=b"r" * 32, threads=1)
    finally:
        set_backend("auto")
    np.testing.assert_array_equal(out, plain)  # float32 and float64 zeros quantize alike
