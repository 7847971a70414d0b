"""Attack class 2: the SecAgg+ bound off by one, and a server that grinds the graph seed.

A server free to choose ``graph_seed`` used to grind seeds until its colluders surrounded a victim,
then split the victim's group as in the threshold attack. Now (i) the finder requires
2t > k + 1 + t_1, (ii) an active SecAgg+ session's seed is drawn by the clients (commit-reveal), and
(iii) the only freedom left to the server, leaving committed clients out after the reveal, is
capped at 2^20 seeds and counted in the finder's bound.
"""

from __future__ import annotations

import dataclasses
import random
from fractions import Fraction

import pytest

from secagg.errors import ConsistencyError, InvalidMessageError, ThresholdError, UnsafeRequestError
from secagg.protocol.graphs import build_graph
from secagg.protocol.graphseed import derive_seed, max_left_out, seed_choices
from secagg.protocol.messages import AdvertiseKeysRequest, decode
from secagg.protocol.params import (
    SECURITY_BITS,
    SEED_TRIES_BITS,
    _counts,
    exposure_probability,
    find_parameters,
    upper_tail_quantile,
)
from secagg.protocol.stage import Stage

from .harness import Adversary

VICTIM = 0


def params(n: int):
    return find_parameters(n, threat_model="active")


def test_clients_refuse_a_graph_seed_chosen_by_the_server():
    p = params(20)
    adv = Adversary(20, kind=p.kind, degree=p.degree, threshold=p.threshold, max_dropouts=p.max_dropouts)
    wire = adv.config.to_wire()
    wire["graph_seed"] = bytes(32)  # a ground seed, slipped into the configuration
    request = AdvertiseKeysRequest(session_id=adv.config.session_id, client_id=VICTIM, config=wire)
    assert adv.send(VICTIM, request) is None
    assert isinstance(adv.errors[VICTIM], InvalidMessageError)
    assert "drawn by its clients" in str(adv.errors[VICTIM])


def test_a_forged_reveal_is_caught():
    p = params(20)
    adv = Adversary(20, kind=p.kind, degree=p.degree, threshold=p.threshold, max_dropouts=p.max_dropouts)

    def forge(stage, cid, request):
        if stage is Stage.SHARE_KEYS and cid == VICTIM:
            m = decode(request)
            nonces = dict(m.nonces)
            nonces[5] = bytes(32)  # the server replaces client 5's nonce with one it likes
            return dataclasses.replace(m, nonces=nonces).to_bytes()
        return request

    adv.run_until(Stage.MASKED_INPUT, edit=forge)
    assert isinstance(adv.errors[VICTIM], ConsistencyError)
    assert "does not match its commitment" in str(adv.errors[VICTIM])


def test_leaving_out_more_committed_clients_than_allowed_is_refused():
    p = params(40)
    adv = Adversary(40, kind=p.kind, degree=p.degree, threshold=p.threshold, max_dropouts=p.max_dropouts)
    allowed = max_left_out(40)
    assert seed_choices(40, allowed) <= 2**SEED_TRIES_BITS < seed_choices(40, allowed + 1)
    left_out = set(range(1, allowed + 2))

    def drop_reveals(stage, cid, request):
        if stage is Stage.SHARE_KEYS:
            m = decode(request)
            return dataclasses.replace(m, nonces={c: v for c, v in m.nonces.items() if c not in left_out}).to_bytes()
        return request

    with pytest.raises(ThresholdError):  # the honest server itself stops: it knows clients refuse
        adv.run_until(Stage.MASKED_INPUT, skip={Stage.GRAPH_SEED: left_out})
    adv = Adversary(40, kind=p.kind, degree=p.degree, threshold=p.threshold, max_dropouts=p.max_dropouts)
    with pytest.raises(ThresholdError):  # a server that goes on anyway: every client refuses
        adv.run_until(Stage.MASKED_INPUT, edit=drop_reveals)
    assert isinstance(adv.errors[VICTIM], UnsafeRequestError)
    assert f"more than {allowed}" in str(adv.errors[VICTIM])


def test_grinding_within_the_allowance_never_surrounds_a_victim():
    """The server tries thousands of allowed leave-out patterns (each a fresh graph); even the best
    leaves the victim fewer colluding neighbours than 2t - k - 1, what the split view needs."""
    n, colluders = 20, {19}
    p = params(n)
    adv = Adversary(n, kind=p.kind, degree=p.degree, threshold=p.threshold, max_dropouts=p.max_dropouts,
                    colluders=colluders)
    adv.run_until(Stage.SHARE_KEYS)
    ctx = adv.server.ctx
    others = [c for c in ctx.nonces if c not in colluders | {VICTIM}]
    rng, best = random.Random(1), 0
    for _ in range(3000):
        left = set(rng.sample(others, rng.randint(0, min(max_left_out(n), len(others)))))
        seed = derive_seed(ctx.cohort_digest, {c: v for c, v in ctx.nonces.items() if c not in left})
        graph = build_graph(p.kind, range(n), p.degree, seed)
        best = max(best, len(graph.neighbors(VICTIM) & colluders))
    assert best < 2 * p.threshold - p.degree - 1


@pytest.mark.parametrize("n", [20, 128, 500, 1000, 5000])
def test_exact_exposure_probability_is_within_the_stated_budget(n):
    """Per victim, Pr[X >= 2t - k - 1] for X ~ HG(n - 1, A, k) colluding neighbours, computed
    exactly, times the 2^20 seeds a server may try, stays below 2^-41 / n (half of 2^-40)."""
    p = params(n)
    if p.kind != "harary":
        pytest.skip("small cohorts use the complete graph")
    corrupt = _counts(n, 0.05, 0.1)[0]
    exposure = exposure_probability(n, p.degree, p.threshold, corrupt, "active")
    assert exposure * 2**SEED_TRIES_BITS <= Fraction(1, n * 2**(SECURITY_BITS + 1))
    # with the old bound (2t > k + t_1) the same degree left a victim exposed far more often
    old_t = (p.degree + (2 * p.threshold - p.degree - 2)) // 2  # one below the corrected threshold
    if old_t >= 2:
        assert exposure_probability(n, p.degree, old_t, corrupt, "active") >= exposure


@pytest.mark.parametrize("n", [20, 128, 1000, 10000])
def test_the_corrected_bound_counts_the_owner(n):
    """2t > k + 1 + t_1: the k + 1 holders (owner included) less the colluders, split in two, plus
    the colluders on both sides, stay below 2t whenever at most t_1 neighbours collude."""
    p = params(n)
    corrupt = _counts(n, 0.05, 0.1)[0]
    t1 = upper_tail_quantile(n, corrupt, p.degree, SECURITY_BITS + 1 + SEED_TRIES_BITS)
    assert 2 * p.threshold > p.degree + 1 + t1
    assert 2 * (p.threshold - 1) <= p.degree + 1 + t1  # and it is the smallest such threshold


@pytest.mark.parametrize("n", [20, 40])
def test_clients_refuse_a_secagg_plus_threshold_one_below_the_corrected_bound(n):
    """The old bound's threshold (one short: the owner's own shares not counted) on the same
    Harary graph is refused by every honest client before it sends anything."""
    p = params(n)
    assert p.kind == "harary"
    adv = Adversary(n, kind=p.kind, degree=p.degree, threshold=p.threshold - 1, max_dropouts=p.max_dropouts)
    for cid, request in adv.server.start().items():
        assert adv.send(cid, request) is None
        assert isinstance(adv.errors[cid], UnsafeRequestError)
        assert f"needs t >= {p.threshold}" in str(adv.errors[cid])
