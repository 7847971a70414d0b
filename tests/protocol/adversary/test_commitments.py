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
from secagg.errors import CheatingError
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


@pytest.mark.parametrize("protocol", ["secagg", "secagg+"])
def test_a_dealer_whose_shares_do_not_open_its_seed_commitment_is_named(protocol):
    """Client 3 shares one seed and commits to another (as a client masking with a seed other
    than the one it shared would): the server rebuilds the shared seed, sees that it does not
    open the commitment, and names client 3."""
    def lie(data):
        m = decode(data)
        return dataclasses.replace(m, seed_commitment=os.urandom(32)).to_bytes()

    with pytest.raises(CheatingError) as info:
        run(on(Stage.SHARE_KEYS, "reply", 3, lie), protocol)
    assert info.value.culprits == (3,)


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


def test_a_dealer_whose_committed_shares_are_inconsistent_is_named(monkeypatch):
    """Client 2 deals shares of two different polynomials (each matching the hash it commits to):
    no holder can tell, but the server's reconstruction can, and names client 2."""
    from secagg.protocol.client import r1_share_keys

    real = shamir.split_to_bytes
    calls = {"n": 0}

    def two_faced(secret, threshold, num_shares):
        calls["n"] += 1
        shares = real(secret, threshold, num_shares)
        if calls["n"] == 5:  # the 3rd dealer's self-mask split (two splits per dealer)
            other = real(os.urandom(32), threshold, num_shares)
            shares = shares[: num_shares // 2] + other[num_shares // 2:]
        return shares

    monkeypatch.setattr(r1_share_keys.shamir, "split_to_bytes", two_faced)
    with pytest.raises(CheatingError) as info:
        run(None, "secagg")
    assert info.value.culprits == (2,)
