"""Attack class 3: self-mask seeds and shares without commitments.

A client that Shamir-shared one seed but masked with another used to make a round complete with
every coordinate wrong and nobody blamed; a forged share used to abort the whole round with no
culprit. Now every dealer commits to its seed and to each share it deals (signed hashes): a holder
refuses shares that do not match, the server checks every revealed share and the rebuilt seed, and
names whoever broke the rules.
"""

from __future__ import annotations

import dataclasses
import os
import struct

import numpy as np
import pytest

import secagg
from secagg.core import shamir
from secagg.protocol.messages import decode
from secagg.protocol.stage import Stage

N, D, Q = 10, 24, 2**8
P = (1 << 61) - 1


def updates(seed: int = 0) -> dict[int, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {c: rng.uniform(-1, 1, D) for c in range(N)}


def run(tamper, protocol: str = "secagg+"):
    return secagg.simulate(updates(), protocol=protocol, threat_model="active", quantization_range=Q,
                           tamper=tamper, dropout_fraction=0.2)


def exact(res) -> None:
    ups = updates()
    truth = np.sum([ups[c] for c in res.included], axis=0)
    assert np.max(np.abs(res.total - truth)) <= len(res.included) * 2 / (Q - 1) + 1e-9


def on(stage, direction, who, edit):
    def tamper(s, d, cid, data):
        return edit(data) if (s is stage and d == direction and cid == who) else data
    return tamper


def one_dealer_shares(monkeypatch, dealer_split: int, replace) -> None:
    """Make the ``dealer_split``-th Shamir split of round 1 (two per dealer, in client order: the
    self-mask seed, then the masking key) return ``replace(secret, t, n)`` instead."""
    from secagg.protocol.client import r1_share_keys

    real, calls = shamir.split_to_bytes, {"n": 0}

    def split(secret, threshold, num_shares):
        calls["n"] += 1
        return replace(real, secret, threshold, num_shares) if calls["n"] == dealer_split else \
            real(secret, threshold, num_shares)

    monkeypatch.setattr(r1_share_keys.shamir, "split_to_bytes", split)


@pytest.mark.parametrize("protocol", ["secagg", "secagg+"])
def test_a_dealer_that_shares_one_seed_and_masks_with_another_is_excluded(monkeypatch, protocol):
    """Client 3 commits to (and masks with) its seed b but deals shares of another seed b': the
    server rebuilds b', sees that it does not open 3's signed commitment, convicts 3, its surviving
    neighbours check the proof and reveal their pairwise seeds with it, and the round completes,
    exact, without 3."""
    one_dealer_shares(monkeypatch, 2 * 3 + 1, lambda real, secret, t, n: real(os.urandom(32), t, n))
    res = run(None, protocol)
    assert res.excluded == frozenset({3}) and 3 in res.blamed
    assert res.included == frozenset(range(N)) - {3}
    exact(res)


@pytest.mark.parametrize("protocol", ["secagg", "secagg+"])
def test_a_forged_revealed_share_is_blamed_and_the_round_completes(protocol):
    """Client 4 reveals a well-formed share of another polynomial for every survivor: each fails
    its dealer's commitment, client 4 is blamed, and the sum is exact without its shares."""
    def forge(data):
        m = decode(data)
        forged = {}
        for owner, raw in m.self_mask_shares.items():
            share = shamir.Share.from_bytes(raw)
            words = list(struct.unpack("<8Q", share.value))
            words[0] = (words[0] + 1) % P
            forged[owner] = shamir.Share(share.index, share.threshold, share.split_id,
                                         struct.pack("<8Q", *words)).to_bytes()
        return dataclasses.replace(m, self_mask_shares=forged).to_bytes()

    res = run(on(Stage.UNMASKING, "reply", 4, forge), protocol)
    assert set(res.blamed) == {4} and "does not match its commitment" in res.blamed[4]
    assert res.included == frozenset(range(N))
    exact(res)


@pytest.mark.parametrize("protocol", ["secagg", "secagg+"])
def test_a_bad_share_sent_to_one_holder_is_refused_and_the_round_completes(protocol):
    """The dealer's ciphertext to client 6 is replaced by one for another holder (it does not
    decrypt): client 6 refuses that dealer's shares instead of dropping out, and the round is
    exact with every client in it."""
    def swap_first_two(data):
        m = decode(data)
        senders = sorted(m.ciphertexts)
        cts = dict(m.ciphertexts)
        cts[senders[0]], cts[senders[1]] = cts[senders[1]], cts[senders[0]]
        return dataclasses.replace(m, ciphertexts=cts).to_bytes()

    res = run(on(Stage.MASKED_INPUT, "request", 6, swap_first_two), protocol)
    assert len(res.refused[6]) == 2 and not res.client_errors
    assert res.included == frozenset(range(N))
    exact(res)


@pytest.mark.parametrize("split", [2 * 2 + 1, 2 * 2 + 2])
def test_a_dealer_whose_committed_shares_are_inconsistent_is_excluded(monkeypatch, split):
    """Client 2 deals shares of two different polynomials (each matching the hash it commits to),
    of its self-mask seed or of its masking key: no holder can tell, the server's reconstruction
    can; 2 is convicted and excluded and the round completes, exact."""
    def two_faced(real, secret, t, n):
        return real(secret, t, n)[: n // 2] + real(os.urandom(32), t, n)[n // 2:]

    one_dealer_shares(monkeypatch, split, two_faced)
    tamper = None
    if split % 2 == 0:  # the key shares only matter if 2 is dropped: make it drop after sharing
        tamper = on(Stage.MASKED_INPUT, "request", 2, lambda data: None)
    res = run(tamper, "secagg")
    assert res.excluded == frozenset({2}) and 2 in res.blamed
    assert res.included == frozenset(range(N)) - {2}
    exact(res)


def test_a_fake_proof_reveals_nothing():
    """A server that claims an honest client cheated (its shares rebuild what it committed to)
    gets no pairwise seed: every neighbour refuses the request as unsafe."""
    from secagg.errors import UnsafeRequestError
    from secagg.protocol.messages import ExclusionRequest
    from secagg.protocol.params import find_parameters

    from .harness import Adversary

    p = find_parameters(8, threat_model="active", complete=True)
    adv = Adversary(8, kind="complete", degree=7, threshold=p.threshold)
    requests = adv.run_until(Stage.UNMASKING)
    replies = {cid: adv.send(cid, request) for cid, request in requests.items()}
    from secagg.protocol.server.r1_share_keys import share_hashes

    seed_commit, _, signature = adv.server.ctx.share_commitments[5]
    hashes = share_hashes(adv.server.ctx, 5)
    shares = {cid: m.self_mask_shares[5] for cid, m in replies.items() if m is not None and 5 in m.self_mask_shares}
    proof = (0, seed_commit, hashes, signature, shares)
    for cid in (0, 1):
        adv.send(cid, ExclusionRequest(session_id=adv.config.session_id, client_id=cid, proofs={5: proof}))
        assert isinstance(adv.errors[cid], UnsafeRequestError)
