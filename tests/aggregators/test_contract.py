"""One contract every aggregator satisfies (plain, secagg, secagg+, he-bfv, he-ckks)."""

from __future__ import annotations

import numpy as np
import pytest

from secagg import Stage, available_aggregators, create_aggregator
from secagg.aggregators.registry import aggregator_options
from secagg.errors import (
    ConfigError,
    DependencyError,
    DTypeError,
    InputError,
    NonFiniteError,
    ShapeError,
)

CLIP = 1.0
LEVELS = 2**12
NAMES = ["plain", "secagg", "secagg+", "he-bfv", "he-ckks"]
# each aggregator takes the options that mean something to it (plain sums floats as they are;
# CKKS encodes floats instead of quantizing)
OPTIONS = {"plain": {}, "he-ckks": dict(clipping_range=CLIP)}
QUANTIZED = dict(clipping_range=CLIP, quantization_range=LEVELS)


def make(name: str):
    try:
        return create_aggregator(name, **OPTIONS.get(name, QUANTIZED))
    except DependencyError as exc:  # only the optional HE extra may be missing
        pytest.skip(f"{name} needs an optional dependency: {exc}")


def tolerance(aggregator, num_clients: int) -> float:
    """Largest per-coordinate error the aggregator promises for a sum of num_clients updates."""
    bound = getattr(aggregator, "error_bound", None)
    if bound is not None:
        return float(bound(num_clients))
    return num_clients * 2 * CLIP / (LEVELS - 1) + 1e-9


def random_updates(num_clients: int, dim: int, seed: int) -> dict[int, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {cid: rng.uniform(-CLIP, CLIP, dim) for cid in range(10, 10 + num_clients)}


def test_registry_lists_every_aggregator():
    assert set(NAMES) <= set(available_aggregators())


def test_unknown_name_is_a_config_error():
    with pytest.raises(ConfigError, match="unknown aggregator"):
        create_aggregator("no-such-thing")
    with pytest.raises(ConfigError, match="did you mean 'secagg\\+'"):
        create_aggregator("secagg++")


@pytest.mark.parametrize("name", NAMES)
def test_a_misspelled_option_is_refused_naming_the_closest(name):
    misspelled = {"plain": "anything_at_all", "he-ckks": "clipping_rnage"}.get(name, "clipping_rnage")
    with pytest.raises(ConfigError, match=f"no option '{misspelled}'") as info:
        create_aggregator(name, **{misspelled: 1.0})
    if name != "plain":
        assert "did you mean 'clipping_range'" in str(info.value)
    else:
        assert "takes no options" in str(info.value)
    assert set(aggregator_options(name)) >= set(OPTIONS.get(name, QUANTIZED))


@pytest.mark.parametrize("name", NAMES)
def test_sum_of_all_clients(name):
    aggregator = make(name)
    updates = random_updates(6, 300, seed=1)
    result = aggregator.aggregate(updates)
    expected = np.sum(list(updates.values()), axis=0)
    assert result.included == frozenset(updates)
    assert result.total.shape == expected.shape
    assert result.total.dtype == np.float64
    assert np.max(np.abs(result.total - expected)) <= tolerance(aggregator, 6)
    np.testing.assert_allclose(result.mean(), result.total / 6)


@pytest.mark.parametrize("name", NAMES)
def test_dropouts_exclude_exactly_the_clients_that_never_uploaded(name):
    aggregator = make(name)
    updates = random_updates(8, 64, seed=2)
    ids = sorted(updates)
    dropouts = {ids[0]: Stage.MASKED_INPUT, ids[1]: Stage.UNMASKING}
    result = aggregator.aggregate(updates, dropouts=dropouts, round_index=3)
    included = frozenset(ids) - {ids[0]}
    assert result.included == included
    expected = np.sum([updates[c] for c in included], axis=0)
    assert np.max(np.abs(result.total - expected)) <= tolerance(aggregator, len(included))


@pytest.mark.parametrize("name", NAMES)
def test_byte_accounting_covers_included_clients(name):
    aggregator = make(name)
    updates = random_updates(4, 128, seed=3)
    result = aggregator.aggregate(updates)
    for cid in result.included:
        assert sum(result.bytes_sent[cid].values()) > 0
    assert result.total_bytes_sent() > 0


@pytest.mark.parametrize("name", NAMES)
def test_bad_updates_get_specific_errors(name):
    aggregator = make(name)
    good = random_updates(3, 16, seed=4)
    with pytest.raises(DTypeError):
        aggregator.aggregate({**good, 99: np.arange(16, dtype=np.int64)})
    with pytest.raises(ShapeError):
        aggregator.aggregate({**good, 99: np.zeros(17)})
    with pytest.raises(ShapeError):
        aggregator.aggregate({**good, 99: np.zeros((4, 4))})
    bad = np.zeros(16)
    bad[3] = np.nan
    with pytest.raises(NonFiniteError):
        aggregator.aggregate({**good, 99: bad})
    with pytest.raises(InputError):
        aggregator.aggregate({})


@pytest.mark.parametrize("name", NAMES)
def test_prepare_then_aggregate_gives_the_same_sum(name):
    aggregator = make(name)
    updates = random_updates(6, 300, seed=7)
    dropouts = {11: Stage.MASKED_INPUT}
    aggregator.prepare(sorted(updates), vector_length=300, dropouts=dropouts, round_index=0)
    result = aggregator.aggregate(updates, dropouts=dropouts)
    included = [c for c in updates if c != 11]
    assert result.included == frozenset(included)
    expected = np.sum([updates[c] for c in included], axis=0)
    assert np.max(np.abs(result.total - expected)) <= tolerance(aggregator, len(included))
    aggregator.close()
