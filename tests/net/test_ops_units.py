"""Units of the operations layer: the deadline rule, instance tokens, the database lock, the
retention of round sums and the settings that refuse nonsense."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("grpc")

from secagg.errors import (  # noqa: E402
    ConfigError,
    DatabaseLockedError,
    DuplicateIdentityError,
    StaleInstanceError,
)
from secagg.net.dblock import DatabaseLock  # noqa: E402
from secagg.net.instances import Instances  # noqa: E402
from secagg.net.model_io import ModelVersion, pack_arrays  # noqa: E402
from secagg.net.settings import ServerSettings  # noqa: E402
from secagg.net.store import Store  # noqa: E402
from secagg.rec.model import ItemModel  # noqa: E402

from .test_units import _record  # noqa: E402


def test_stage_deadlines_grow_with_the_cohort():
    s = ServerSettings(n_items=10, stage_timeout=10.0, training_timeout=30.0, timeout_per_client=0.05)
    assert s.stage_deadline(False, 400) == pytest.approx(30.0)  # 10 s + 400 x 0.05 s
    assert s.stage_deadline(True, 400) == pytest.approx(50.0)
    assert s.stage_deadline(False, 1000) == pytest.approx(60.0)
    assert ServerSettings(n_items=10, timeout_per_client=0.0).stage_deadline(False, 1000) == 10.0


@pytest.mark.parametrize("bad", [dict(timeout_per_client=-1.0), dict(max_aborted_rounds=0),
                                 dict(keep_round_sums=-1)])
def test_settings_refuse_nonsense(bad):
    with pytest.raises(ConfigError):
        ServerSettings(n_items=10, **bad)


def test_instances_fence_duplicates_and_hold_restarted_clients_out():
    inst = Instances()
    with pytest.raises(StaleInstanceError, match="register again"):
        inst.check(7, b"anything")  # never registered with this server (it restarted)
    first, replaced = inst.register(7)
    assert not replaced
    inst.check(7, first)
    inst.new_session()
    inst.check_session(7, first, advertising=True)
    inst.joined(7, first)
    second, replaced = inst.register(7)  # the client restarted, or a twin started
    assert replaced and second != first
    with pytest.raises(DuplicateIdentityError, match="client 7: another process"):
        inst.check(7, first)
    inst.check(7, second)
    assert not inst.may_take(7, second) and inst.replaced() == {7}
    with pytest.raises(StaleInstanceError, match="did not advertise"):
        inst.check_session(7, second, advertising=False)
    with pytest.raises(StaleInstanceError, match="did not advertise"):
        inst.check_session(7, second, advertising=True)  # no second set of keys in one session
    inst.new_session()  # the next round: the new process takes part
    assert inst.may_take(7, second) and inst.replaced() == set()


def test_database_lock_is_exclusive_and_released(tmp_path):
    db = tmp_path / "s.db"
    lock = DatabaseLock(db)
    with pytest.raises(DatabaseLockedError, match=r"in use by secagg server \(pid \d+\)"):
        DatabaseLock(db, "secagg rollback")
    lock.release()
    lock.release()  # idempotent
    with DatabaseLock(db, "secagg rollback") as again:
        assert again.held
    assert not again.held


@pytest.mark.parametrize("keep, kept", [(None, [4, 5]), (0, []), (3, [3, 4, 5])])
def test_round_sums_are_kept_for_the_last_rounds_only(tmp_path, keep, kept):
    store = Store(tmp_path / "s.db", keep_versions=2, keep_round_sums=keep)
    model = ItemModel.initial(6, 2, np.random.default_rng(1))
    store.publish_initial(ModelVersion.of(1, 0, model), pack_arrays({}))
    for r in range(1, 6):
        store.record_round(_record(r), ModelVersion.of(r + 1, r, model), pack_arrays({}))
    recs = store.rounds()
    store.close()
    assert [r.round for r in recs] == [1, 2, 3, 4, 5]  # every round keeps its record
    assert [r.round for r in recs if r.quantized_sum is not None] == kept


def test_rollback_is_no_longer_a_server_flag(capsys):
    from secagg.cli import main

    with pytest.raises(SystemExit) as e:
        main(["server", "--db", "x", "--cert", "c", "--key", "k", "--rollback-to", "3"])
    assert e.value.code == 2 and "--rollback-to" in capsys.readouterr().err


def test_each_stage_is_recorded_with_the_deadline_the_rule_gave_it(tmp_path, certs):
    from .helpers import ClientThreads, settings, start_server
    from .test_inprocess import _rounds

    s = settings(stage_timeout=50.0, training_timeout=70.0, timeout_per_client=2.5)
    server = start_server(tmp_path, certs, s, rounds=1)
    clients = ClientThreads(tmp_path, certs, server.port, 6)
    try:
        assert server.wait(120)
    finally:
        clients.stop()
        server.stop()
    (rec,) = _rounds(tmp_path / "server.db")
    assert rec.status == "completed"
    deadlines = {name: st["deadline_s"] for name, st in rec.stages.items()}
    assert deadlines.pop("ADVERTISE_KEYS") == 70.0 + 6 * 2.5
    # later stages: the base plus 2.5 s per client expected at that stage (6: nobody dropped)
    assert deadlines and all(d == 50.0 + 6 * 2.5 for d in deadlines.values()), deadlines


@pytest.mark.parametrize("server_kw, policy, needs", [
    (dict(threat_model="honest-but-curious"), dict(require_active=True), "--accept-honest-but-curious"),
    (dict(corrupt_fraction=0.05), dict(corrupt_fraction=0.2), "--corrupt-fraction 0.05 or less"),
])
def test_a_client_that_would_refuse_every_session_is_refused_at_registration(tmp_path, certs, server_kw,
                                                                             policy, needs):
    from secagg.errors import RegistrationError
    from secagg.net.client import NetClient
    from secagg.protocol.policy import ClientPolicy

    from .helpers import settings, start_server

    server = start_server(tmp_path, certs, settings(**server_kw), rounds=None)
    client = NetClient(f"127.0.0.1:{server.port}", ca=certs.ca, state_dir=tmp_path / "c", trainer=None,
                       model_shape=(20, 3), policy=ClientPolicy(**policy), trust_server_keys=True)
    fine = NetClient(f"127.0.0.1:{server.port}", ca=certs.ca, state_dir=tmp_path / "d", trainer=None,
                     model_shape=(20, 3), policy=ClientPolicy(require_active=False, corrupt_fraction=0.05),
                     trust_server_keys=True)
    try:
        with pytest.raises(RegistrationError, match=needs):
            client.register()
        assert client.client_id is None and server.coordinator.online() == []
        assert fine.register() >= 1  # a compatible client is welcome
    finally:
        client.close()
        fine.close()
        server.stop()
