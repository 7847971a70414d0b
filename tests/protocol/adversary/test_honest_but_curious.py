"""The honest-but-curious model trusts the server to follow the protocol; a deviating server breaks
it. These tests state that limit (a server that shows two halves of the cohort different views
recovers a victim's exact input) and the defence: a client that requires the active model refuses
such sessions before it sends anything, as the network client does by default."""

from __future__ import annotations

import numpy as np

from secagg.errors import UnsafeRequestError
from secagg.protocol.messages import UnmaskingRequest
from secagg.protocol.params import find_parameters
from secagg.protocol.policy import ClientPolicy
from secagg.protocol.stage import Stage

from .harness import Adversary

N, VICTIM = 8, 0
HALVES = ({1, 2, 3}, {4, 5, 6, 7})


def test_a_deviating_server_recovers_an_input_in_honest_but_curious_mode():
    params = find_parameters(N, complete=True)  # honest-but-curious: t = A + 1
    adv = Adversary(N, kind="complete", degree=N - 1, threshold=params.threshold, threat_model="honest-but-curious")
    adv.run_until(Stage.UNMASKING)
    sid, everyone = adv.config.session_id, tuple(range(N))
    replies = {}
    for side, members in enumerate(HALVES):  # side 0 sees the victim survive, side 1 sees it drop
        for cid in sorted(members):
            survivors = everyone if side == 0 else tuple(c for c in everyone if c != VICTIM)
            dropped = () if side == 0 else (VICTIM,)
            reply = adv.send(cid, UnmaskingRequest(session_id=sid, client_id=cid, survivors=survivors,
                                                   dropped=dropped, signatures={}))
            assert reply is not None, adv.errors.get(cid)
            replies[cid] = reply
    b, s = adv.shares_of(replies, VICTIM)
    np.testing.assert_array_equal(adv.recover(VICTIM, b, s), adv.inputs[VICTIM])


def test_a_client_that_requires_the_active_model_refuses_an_honest_but_curious_session():
    params = find_parameters(N, complete=True)
    adv = Adversary(N, kind="complete", degree=N - 1, threshold=params.threshold, threat_model="honest-but-curious",
                    policy=ClientPolicy(require_active=True))
    for cid, request in adv.server.start().items():
        assert adv.send(cid, request) is None  # nothing sent: no keys, no shares
        assert isinstance(adv.errors[cid], UnsafeRequestError)
        assert "requires the active threat model" in str(adv.errors[cid])


def test_policy_options_are_checked():
    import pytest

    from secagg.errors import ConfigError

    with pytest.raises(ConfigError, match="require_active must be True or False"):
        ClientPolicy(require_active=1)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="corrupt_fraction"):
        ClientPolicy(corrupt_fraction=1.0)
