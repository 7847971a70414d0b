"""Property tests: for any n, d, t and dropout schedule the protocol returns exactly the sum of the
included clients' quantized inputs mod R, or aborts cleanly exactly when the rules say so.

Profiles: HYPOTHESIS_PROFILE=ci (default, few examples) or slow (many)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import secagg
from secagg.errors import ThresholdError
from secagg.protocol.config import default_modulus
from secagg.protocol.graphs import build_graph
from secagg.protocol.graphseed import derive_seed
from secagg.protocol.messages import decode
from secagg.protocol.params import find_parameters, min_threshold
from secagg.protocol.stage import Stage
from secagg.protocol.transcript import cohort_digest

from .helpers import expected_outcome, quantized_sum

STAGES = [None] * 6 + list(Stage)
CLIP = 1.0


class GraphSpy:
    """A tamper hook that reads an active SecAgg+ session's graph off the wire (the cohort of the
    graph-seed requests and the nonces of the share-keys requests) and changes nothing."""

    def __init__(self, kind: str, n: int, degree: int) -> None:
        self.kind, self.n, self.degree = kind, n, degree
        self.cohort = self.nonces = None

    def __call__(self, stage, direction, cid, data):
        if direction == "request" and stage in (Stage.GRAPH_SEED, Stage.SHARE_KEYS):
            m = decode(data)
            if stage is Stage.GRAPH_SEED:
                self.cohort = m.cohort
            else:
                self.nonces = m.nonces
        return data

    def graph(self):
        if self.cohort is None or self.nonces is None:
            return None
        seed = derive_seed(cohort_digest(self.cohort), self.nonces)
        return build_graph(self.kind, range(self.n), self.degree, seed)


@st.composite
def scenarios(draw, protocol, threat_model):
    n = draw(st.integers(2, 60))
    d = draw(st.integers(1, 40))
    params = find_parameters(n, threat_model=threat_model, complete=protocol == "secagg")
    lowest = 1 if threat_model != "active" else min_threshold(  # clients refuse less
        n, params.kind, params.degree, 0.05, params.max_dropouts, threat_model)
    t = draw(st.one_of(st.none(), st.integers(lowest, params.degree + 1)))
    schedule = {c: s for c in range(n) if (s := draw(st.sampled_from(STAGES))) is not None}
    seed = draw(st.binary(min_size=32, max_size=32))
    quantized = draw(st.booleans())
    return n, d, t, schedule, seed, quantized


def run(protocol, threat_model, scenario):
    n, d, t, schedule, seed, quantized = scenario
    q = 2**8
    rng = np.random.default_rng(int.from_bytes(seed[:8], "little"))
    if quantized:
        updates = {c: rng.integers(0, q, d).astype(np.uint32) for c in range(n)}
    else:
        updates = {c: rng.uniform(-1.5, 1.5, d) for c in range(n)}
    rounding = {c: bytes([c % 256]) + seed[1:] for c in range(n)}
    params = find_parameters(n, threat_model=threat_model, complete=protocol == "secagg", threshold=t)
    clients_seed = threat_model == "active" and params.kind == "harary"
    seen = GraphSpy(params.kind, n, params.degree)
    kwargs = dict(protocol=protocol, threat_model=threat_model, dropouts=schedule,
                  clipping_range=CLIP, quantization_range=q, threshold=t, rounding_seeds=rounding,
                  graph_seed=seed, tamper=seen if clients_seed else None)
    try:
        res = secagg.simulate(updates, **kwargs)
    except ThresholdError as exc:
        res, error = None, exc
    # the graph: the server's seed, or (active SecAgg+) the one the clients drew, read off the wire
    graph = seen.graph() if clients_seed else build_graph(params.kind, range(n), params.degree, seed)
    graph = graph or build_graph(params.kind, range(n), params.degree, seed)  # aborted before the seed
    verdict, detail, threshold = expected_outcome(graph, params.threshold, schedule, threat_model == "active",
                                                  clients_seed=clients_seed, max_dropouts=params.max_dropouts)
    if verdict == "abort":
        assert res is None, f"expected an abort at {detail}"
        assert error.stage == detail
        assert error.threshold == threshold
        assert error.survivors < threshold
        return
    assert res is not None, f"unexpected abort: {error}"
    assert res.included == detail
    r = default_modulus(n, q)
    assert res.config.modulus_range == r
    expected = quantized_sum(updates, rounding, res.included, clipping_range=CLIP,
                             quantization_range=q, modulus_range=r)
    np.testing.assert_array_equal(res.quantized_sum.astype(np.uint64), expected)
    if not quantized:
        exact = np.sum([np.clip(updates[c], -CLIP, CLIP) for c in res.included], axis=0)
        assert np.max(np.abs(res.total - exact)) <= len(res.included) * 2 * CLIP / (q - 1) + 1e-9


@pytest.mark.parametrize("threat_model", ["honest-but-curious", "active"])
@pytest.mark.parametrize("protocol", ["secagg", "secagg+"])
def test_exact_sum_or_clean_abort(protocol, threat_model):
    @settings(max_examples=max(3, settings().max_examples // 4))
    @given(scenarios(protocol, threat_model))
    def check(scenario):
        run(protocol, threat_model, scenario)

    check()


@pytest.mark.parametrize("protocol", ["secagg", "secagg+"])
def test_no_dropouts_includes_everyone(protocol):
    rng = np.random.default_rng(5)
    updates = {c: rng.uniform(-1, 1, 50) for c in range(30)}
    res = secagg.simulate(updates, protocol=protocol, quantization_range=2**12)
    assert res.included == frozenset(range(30))
    assert np.max(np.abs(res.total - np.sum(list(updates.values()), axis=0))) <= 30 * 2 / 4095


def test_masked_vector_is_uniform():
    """A single client's masked vector is indistinguishable from uniform (chi-square)."""
    from scipy.stats import chisquare

    captured = {}

    def spy(stage, direction, cid, data):
        if stage is Stage.MASKED_INPUT and direction == "reply" and cid == 3:
            captured["data"] = data
        return data

    d, q = 20000, 2**4
    updates = {c: np.zeros(d) for c in range(8)}  # a constant input: all structure must vanish
    res = secagg.simulate(updates, protocol="secagg", quantization_range=q, tamper=spy)
    from secagg.protocol.messages import decode
    from secagg.protocol.packing import unpack
    msg = decode(captured["data"])
    values = unpack(msg.data, msg.length, msg.bits)
    r = res.config.modulus_range
    counts = np.bincount((values * 16 // r).astype(np.int64), minlength=16)
    assert chisquare(counts).pvalue > 1e-6  # fresh OS randomness: a false alarm is ~1e-6
