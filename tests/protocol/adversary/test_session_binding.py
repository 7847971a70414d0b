"""Attack class 4: a session id and configuration the server alone controlled.

Signatures used to cover only (server session id, client, keys) or (session id, survivor set): one
client could be shown t = 5 while the others saw t = 6, and round-3 signatures from one session
verified in another with the same id. Now every party computes the session id itself from the
server's label, the full configuration and (active) every advertised key, and every signature
covers it.
"""

from __future__ import annotations

import dataclasses
import os

import pytest
from hypothesis import given
from hypothesis import strategies as st

from secagg.core.crypto import IdentityKey, verify
from secagg.errors import AuthenticationError
from secagg.protocol.config import SessionConfig
from secagg.protocol.messages import AdvertiseKeysRequest, decode
from secagg.protocol.params import find_parameters
from secagg.protocol.stage import Stage
from secagg.protocol.transcript import (
    advertise_transcript,
    cohort_digest,
    consistency_transcript,
    first_session_id,
    session_id,
)

from .harness import Adversary

N, VICTIM = 9, 0


def adversary(**kw) -> Adversary:
    p = find_parameters(N, threat_model="active", complete=True)
    return Adversary(N, kind="complete", degree=N - 1, threshold=p.threshold, **kw)


def test_a_client_shown_another_threshold_is_caught_by_its_signature():
    adv = adversary()
    wire = dataclasses.replace(adv.config, threshold=adv.config.threshold + 1).to_wire()

    def other_threshold(stage, cid, request):
        if stage is Stage.ADVERTISE_KEYS and cid == VICTIM:
            return AdvertiseKeysRequest(session_id=adv.config.session_id, client_id=cid, config=wire).to_bytes()
        if stage is Stage.SHARE_KEYS and cid == 1:  # a server forwarding the victim's keys anyway
            m = decode(request)
            advertised = decode(adv.replies[(Stage.ADVERTISE_KEYS, VICTIM)])
            keys = {**m.keys, VICTIM: (advertised.c_public, advertised.s_public, advertised.signature)}
            return dataclasses.replace(m, keys=keys).to_bytes()
        return request

    adv.run_until(Stage.MASKED_INPUT, edit=other_threshold)
    assert isinstance(adv.rejected[VICTIM], AuthenticationError)  # an honest server sees it
    assert isinstance(adv.errors[1], AuthenticationError)  # and so does every neighbour


def test_consistency_signatures_do_not_verify_in_another_session_with_the_same_label():
    """A server reuses its label and configuration for a second session and replays the first
    session's round-3 signatures: fresh keys make the session ids differ, so nothing verifies."""
    identities, label = {c: IdentityKey() for c in range(N)}, os.urandom(16)
    first = adversary(identities=identities, label=label)
    first.run_until(Stage.UNMASKING)
    old = {cid: decode(first.replies[(Stage.CONSISTENCY_CHECK, cid)]).signature for cid in range(N)}
    second = adversary(identities=identities, label=label)
    requests = second.run_until(Stage.UNMASKING)
    ctx = second.server.ctx
    assert ctx.sid != first.server.ctx.sid
    with pytest.raises(AuthenticationError):  # an honest server would refuse the replayed reply
        verify(identities[2].public, old[2], consistency_transcript(ctx.sid, ctx.u3))
    for cid, request in requests.items():  # and every client refuses the replayed signatures
        m = decode(request)
        second.send(cid, dataclasses.replace(m, signatures={w: old[w] for w in m.signatures}))
    assert set(second.errors) == set(range(N))
    assert all(isinstance(e, AuthenticationError) for e in second.errors.values())


CONFIG = SessionConfig(client_ids=tuple(range(6)), graph_kind="complete", degree=5, threshold=4,
                       modulus_range=2**16, vector_length=32, clipping_range=1.0, quantization_range=2**8,
                       threat_model="active", max_dropouts=1)
CHANGES = st.sampled_from([{}, {"threshold": 5}, {"vector_length": 33}, {"quantization_range": 2**9},
                           {"modulus_range": 2**17}, {"max_dropouts": 2}, {"clipping_range": 2.0},
                           {"input_kind": "quantized"}, {"threat_model": "honest-but-curious"}])
KEYS = st.dictionaries(st.integers(0, 5), st.tuples(st.binary(min_size=32, max_size=32),
                                                    st.binary(min_size=32, max_size=32), st.just(b"")),
                       min_size=2, max_size=6)


@given(change=CHANGES, label=st.binary(min_size=16, max_size=16), other_label=st.binary(min_size=16, max_size=16),
       cohort=KEYS, other_cohort=KEYS, survivors=st.frozensets(st.integers(0, 5), min_size=1))
def test_every_signature_verifies_only_under_its_own_session_and_configuration(
        change, label, other_label, cohort, other_cohort, survivors):
    signer = IdentityKey()
    config = dataclasses.replace(CONFIG, session_id=label, graph_seed=CONFIG.graph_seed)
    other = dataclasses.replace(CONFIG, session_id=other_label, graph_seed=CONFIG.graph_seed, **change)
    mine = (config.digest(), label, cohort_digest(cohort))
    theirs = (other.digest(), other_label, cohort_digest(other_cohort))
    sid = session_id(mine[1], mine[0], mine[2])
    other_sid = session_id(theirs[1], theirs[0], theirs[2])
    for make in (lambda s, f: consistency_transcript(s, survivors),
                 lambda s, f: advertise_transcript(f, 3, bytes(32), bytes(32), b"")):
        signature = signer.sign(make(sid, first_session_id(label, mine[0])))
        verify(signer.public, signature, make(sid, first_session_id(label, mine[0])))
        if mine != theirs:
            with pytest.raises(AuthenticationError):
                verify(signer.public, signature, make(other_sid, first_session_id(other_label, theirs[0])))
