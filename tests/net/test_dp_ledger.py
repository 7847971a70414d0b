"""The networked DP ledger: each round's actual mechanism is stored, a restart never re-accounts past
rounds with new noise, and cohorts are drawn the way the accountant analyses them."""

from __future__ import annotations

import io
import random

import pytest

pytest.importorskip("dp_accounting")

from secagg.dp.accounting import epsilon_for  # noqa: E402
from secagg.dp.config import DPConfig  # noqa: E402
from secagg.errors import PrivacyError  # noqa: E402
from secagg.net import logs  # noqa: E402
from secagg.net.coordinator import Coordinator  # noqa: E402
from secagg.net.dp import draw_cohort, round_privacy  # noqa: E402
from secagg.net.status import format_summary, summary  # noqa: E402
from secagg.net.store import RoundRecord, Store  # noqa: E402

from .helpers import settings  # noqa: E402

USERS, PER_ROUND = 200, 20


def dp(rounds: int, **kw) -> DPConfig:
    kw.setdefault("epsilon", 8.0)
    return DPConfig(clip_norm=1.0, clients_per_round=PER_ROUND, num_users=USERS, rounds=rounds, **kw)


def coordinator(db, config: DPConfig) -> Coordinator:
    s = settings(clients_per_round=PER_ROUND, min_clients=2, dp=config)
    return Coordinator(s, Store(db), logs.get_logger("test.dp_ledger", stream=io.StringIO()))


def charge(coord: Coordinator, rounds: range) -> None:
    """Record rounds as the coordinator's _finish does (without running the protocol)."""
    for r in rounds:
        included = list(range(r, r + PER_ROUND))
        row = round_privacy(coord.dp_plan, coord.ledger, r, included, USERS, PER_ROUND)
        rec = RoundRecord(round=r, status="completed", session_id=bytes(16), version_before=1,
                          version_after=1, sampled=included, included=included, modulus_range=2**32,
                          quantized_sum=None, stages={}, abort_reason=None, started=0.0, finished=0.0)
        coord.store.record_round(rec, None, None, row)


def test_extending_a_run_keeps_the_stored_noise_and_epsilon_grows(tmp_path):
    db = tmp_path / "server.db"
    first = coordinator(db, dp(5))
    z = first.dp_plan.noise_multiplier
    charge(first, range(1, 6))
    spent5 = first.ledger.epsilon_release()
    assert spent5 == pytest.approx(8.0, rel=1e-3) and spent5 <= 8.0
    first.store.close()
    # the case: the same --epsilon over 8 rounds would re-plan less noise and re-account
    # the 5 past rounds with it (epsilon dropping); refused before anything is written
    before = db.read_bytes()
    with pytest.raises(PrivacyError, match="stored DP plan differs in .*params.noise_multiplier"):
        coordinator(db, dp(8))
    with pytest.raises(PrivacyError, match="accounting.sampling"):
        coordinator(db, dp(5, sampling="fixed"))
    assert db.read_bytes() == before
    # extending with the stored noise: the past stays as recorded and epsilon grows honestly
    again = coordinator(db, dp(8, epsilon=None, noise_multiplier=z))
    assert again.ledger.rounds == 5 and again.ledger.epsilon_release() == pytest.approx(spent5, rel=1e-12)
    charge(again, range(6, 9))
    mech = again.dp_plan.config.round_mechanism(again.dp_plan.params, PER_ROUND)
    assert again.ledger.epsilon_release() == pytest.approx(epsilon_for([(mech, 8)], again.ledger.delta), rel=1e-9)
    assert again.ledger.epsilon_release() > 9.0
    status = summary(db)["privacy"]
    assert status["round"] == 8 and status["epsilon_release"] == pytest.approx(again.ledger.epsilon_release())
    assert status["epsilon_server"] > status["epsilon_release"] and status["max_participation"] == 8
    assert "epsilon_server" in format_summary(summary(db))
    again.store.close()


def test_a_database_without_a_dp_plan_cannot_turn_dp_on(tmp_path):
    db = tmp_path / "server.db"
    store = Store(db)
    rec = RoundRecord(round=1, status="aborted", session_id=bytes(16), version_before=1, version_after=1,
                      sampled=[], included=[], modulus_range=2**32, quantized_sum=None, stages={},
                      abort_reason="x", started=0.0, finished=0.0)
    store.record_round(rec, None, None)
    store.close()
    with pytest.raises(PrivacyError, match="no DP plan"):
        coordinator(db, dp(5))


def test_a_tampered_ledger_is_refused(tmp_path):
    db = tmp_path / "server.db"
    coord = coordinator(db, dp(5))
    charge(coord, range(1, 3))
    coord.store._db.execute("UPDATE dp_ledger SET mechanism = json_set(mechanism, '$.central_variance', "
                            "json_extract(mechanism, '$.central_variance') * 4) WHERE round = 1")
    coord.store.close()
    with pytest.raises(PrivacyError, match="does not match its recorded mechanisms"):
        coordinator(db, dp(5))


def test_cohorts_follow_the_plan():
    rng = random.Random(3)
    online = list(range(1, USERS + 1))
    fixed = dp(5, sampling="fixed").plan(64, "offset")
    assert all(len(draw_cohort(fixed, online, rng)) == PER_ROUND for _ in range(20))
    poisson = dp(5).plan(64, "offset")
    sizes = [len(draw_cohort(poisson, online, rng)) for _ in range(400)]
    assert len(set(sizes)) > 5  # independent joins, not a fixed count
    mean = sum(sizes) / len(sizes)
    assert abs(mean - PER_ROUND) < 6 * (PER_ROUND * (1 - PER_ROUND / USERS) / len(sizes)) ** 0.5


def test_secagg_server_refuses_other_dp_settings_with_exit_2_and_writes_nothing(tmp_path, certs, capsys):
    from secagg.cli import main

    db = tmp_path / "server.db"
    first = coordinator(db, dp(5))
    first.store.set_meta("model_shape", [20, 3])  # as a real server's database has
    charge(first, range(1, 6))
    z = first.dp_plan.noise_multiplier
    first.store.close()
    before = db.read_bytes()
    common = ["server", "--db", str(db), "--cert", str(certs.cert), "--key", str(certs.key), "--n-items", "20",
              "--insecure-open-enrolment",
              "--factors", "3", "--clients-per-round", str(PER_ROUND), "--min-clients", "2", "--clip-norm", "1.0",
              "--dp-num-users", str(USERS), "--address", "127.0.0.1:0", "--log-file", str(tmp_path / "log")]
    assert main([*common, "--rounds", "8", "--epsilon", "8"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "stored DP plan differs" in err and f"--noise-multiplier {z}" in err
    assert main([*common, "--rounds", "5", "--epsilon", "8", "--dp-sampling", "cyclic"]) == 2
    assert "cannot promise cyclic participation" in capsys.readouterr().err
    assert db.read_bytes() == before
