"""Attack class 1: a threshold too low for the sharing group (which includes the owner itself).

With n = 8 clients on the complete graph and t = 4, a server used to split the clients in two
halves, show each a different survivor set, collect t consistency signatures on each, and obtain t
self-mask shares of a victim from one half and t key shares from the other. Clients now compute the
smallest safe threshold themselves (2t > group size + corrupt budget) and refuse anything lower.
"""

from __future__ import annotations

import numpy as np
import pytest

from secagg.errors import ShamirError, ThresholdError, UnsafeRequestError
from secagg.protocol.params import find_parameters
from secagg.protocol.policy import ClientPolicy
from secagg.protocol.stage import Stage

from .harness import Adversary

N, VICTIM = 8, 0
HALVES = ({0, 1, 2, 3}, {4, 5, 6, 7})


def test_honest_clients_refuse_a_threshold_that_a_split_view_could_beat():
    adv = Adversary(N, kind="complete", degree=N - 1, threshold=4)
    for cid, request in adv.server.start().items():
        assert adv.send(cid, request) is None
        assert isinstance(adv.errors[cid], UnsafeRequestError)
        assert "needs t >= 5" in str(adv.errors[cid])


def test_the_split_view_attack_fails_at_the_safe_threshold():
    t = find_parameters(N, threat_model="active", complete=True).threshold
    assert t == 5  # 2t > 8 clients + 1 assumed colluder
    adv = Adversary(N, kind="complete", degree=N - 1, threshold=t)
    adv.run_until(Stage.CONSISTENCY_CHECK)
    replies = adv.partition(VICTIM, HALVES)
    assert replies == {}  # every client refuses to unmask on only 4 signatures
    assert all(isinstance(adv.errors[c], ThresholdError) for c in range(N))
    b, s = adv.shares_of(replies, VICTIM)
    with pytest.raises(ShamirError):
        adv.recover(VICTIM, b, s)


def test_no_split_of_the_group_reaches_t_on_both_sides_with_a_colluder():
    """With one colluder (signing both views) every split of the 7 honest clients leaves one side
    below t = 5: 7 + 2 * 1 = 9 < 2t."""
    t = find_parameters(N, threat_model="active", complete=True).threshold
    adv = Adversary(N, kind="complete", degree=N - 1, threshold=t, colluders={7})
    adv.run_until(Stage.CONSISTENCY_CHECK)
    replies = adv.partition(VICTIM, ({0, 1, 2, 3}, {4, 5, 6}))
    b, s = adv.shares_of(replies, VICTIM)
    cb, cs = adv.colluder_shares(VICTIM)
    assert len(b) + len(cb) < t or len(s) + len(cs) < t
    with pytest.raises(ShamirError):
        adv.recover(VICTIM, b + cb, s + cs)


def test_control_without_the_client_check_the_same_adversary_recovers_the_input(monkeypatch):
    """The harness is not toothless: switch the clients' threshold check off and the split view at
    t = 4 gives the server the victim's exact input."""
    monkeypatch.setattr(ClientPolicy, "check", lambda self, config: None)
    adv = Adversary(N, kind="complete", degree=N - 1, threshold=4)
    adv.run_until(Stage.CONSISTENCY_CHECK)
    replies = adv.partition(VICTIM, HALVES)
    b, s = adv.shares_of(replies, VICTIM)
    assert len(b) >= 4 and len(s) >= 4
    np.testing.assert_array_equal(adv.recover(VICTIM, b, s), adv.inputs[VICTIM])
