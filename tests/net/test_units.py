"""Unit tests of the pieces under the network layer: request signing, the SQLite store,
model hashing, certificates."""

from __future__ import annotations

import sqlite3
import time

import numpy as np
import pytest

pytest.importorskip("grpc")

from secagg.errors import AuthenticationError, CheckpointError, InputError, ReplayError  # noqa: E402
from secagg.net.auth import ClientIdentity, RequestVerifier  # noqa: E402
from secagg.net.model_io import ModelVersion, pack_arrays, unpack_arrays  # noqa: E402
from secagg.net.proto import secagg_net_pb2 as pb  # noqa: E402
from secagg.net.store import RoundRecord, Store  # noqa: E402
from secagg.rec.model import ItemModel  # noqa: E402


def _signed(ident: ClientIdentity, cid: int = 7) -> pb.TaskRequest:
    req = pb.TaskRequest(have_session=b"s" * 16, have_stage=2, wait_ms=10)
    ident.sign_request("GetTask", cid, req)
    return req


def test_signed_request_verifies_once():
    ident = ClientIdentity()
    v = RequestVerifier()
    req = _signed(ident)
    assert v.verify("GetTask", req, ident.public) == 7
    with pytest.raises(ReplayError, match="replayed"):
        v.verify("GetTask", req, ident.public)


def test_concurrent_requests_arriving_out_of_order_are_accepted_once():
    ident = ClientIdentity()
    v = RequestVerifier(max_skew=3600, window=600)  # wide: a stalled test stays inside it
    early, late = _signed(ident), _signed(ident)  # e.g. a poll and a submit from two threads
    assert v.verify("GetTask", late, ident.public) == 7
    assert v.verify("GetTask", early, ident.public) == 7  # older counter, inside the window
    for replay in (early, late):
        with pytest.raises(ReplayError, match="replayed"):
            v.verify("GetTask", replay, ident.public)


def test_counters_older_than_the_window_are_refused():
    ident = ClientIdentity()
    v = RequestVerifier(window=0)  # strict ordering
    early, late = _signed(ident), _signed(ident)
    assert v.verify("GetTask", late, ident.public) == 7
    with pytest.raises(ReplayError, match="replay window"):
        v.verify("GetTask", early, ident.public)


@pytest.mark.parametrize("change", ["body", "method", "client", "key", "unsigned"])
def test_tampered_request_is_refused(change):
    ident = ClientIdentity()
    req = _signed(ident)
    method, key = "GetTask", ident.public
    if change == "body":
        req.have_stage = 3
    elif change == "method":
        method = "Submit"
    elif change == "client":
        req.auth.client_id = 8
    elif change == "key":
        key = ClientIdentity().public
    else:
        req.ClearField("auth")
    with pytest.raises(AuthenticationError):
        RequestVerifier().verify(method, req, key)


def test_stale_counter_is_refused():
    ident = ClientIdentity()
    req = pb.TaskRequest()
    ident.sign_request("GetTask", 1, req)
    req.auth.counter = time.time_ns() - 10**12  # 1000 s ago, re-signed
    from secagg.net.auth import request_body, signed_bytes
    req.auth.signature = ident.sign(signed_bytes("GetTask", 1, req.auth.counter, request_body(req)))
    with pytest.raises(ReplayError, match="away from the server clock"):
        RequestVerifier(max_skew=60).verify("GetTask", req, ident.public)


def test_identity_round_trips_through_its_private_bytes():
    a = ClientIdentity()
    b = ClientIdentity.from_private_bytes(a.private_bytes())
    assert a.public == b.public
    with pytest.raises(AuthenticationError):
        ClientIdentity.from_private_bytes(b"short")


def test_model_version_hash_detects_substitution():
    model = ItemModel.initial(10, 3, np.random.default_rng(0))
    mv = ModelVersion.of(4, 3, model)
    data = mv.vector.astype("<f4").tobytes()
    again = ModelVersion.from_wire(4, 3, 10, 3, data, mv.hash)
    assert np.array_equal(again.to_model().factors, model.factors)
    bad = bytearray(data)
    bad[5] ^= 1
    with pytest.raises(InputError, match="hash"):
        ModelVersion.from_wire(4, 3, 10, 3, bytes(bad), mv.hash)
    with pytest.raises(InputError, match="bytes"):
        ModelVersion.from_wire(4, 3, 10, 3, data[:-4], mv.hash)


def _record(r: int, status: str = "completed") -> RoundRecord:
    return RoundRecord(round=r, status=status, session_id=b"x" * 16, version_before=r, version_after=r + 1,
                       sampled=[1, 2, 3], included=[1, 2], modulus_range=2**18,
                       quantized_sum=np.arange(5, dtype=np.uint64), stages={"MASKED_INPUT": {"expected": 3, "replied": 2, "rejected": 0, "seconds": 0.1}},
                       abort_reason=None, started=0.0, finished=1.0)


def test_store_keeps_last_k_versions_and_records_each_round_once(tmp_path):
    store = Store(tmp_path / "s.db", keep_versions=2)
    model = ItemModel.initial(6, 2, np.random.default_rng(1))
    store.publish_initial(ModelVersion.of(1, 0, model), pack_arrays({}))
    for r in (1, 2, 3):
        model.add_vector(np.full(model.size, 0.5, np.float32))
        store.record_round(_record(r), ModelVersion.of(r + 1, r, model), pack_arrays({"t": r}))
    assert [v["version"] for v in store.versions()] == [3, 4]
    with pytest.raises(CheckpointError, match="not kept"):
        store.version(1)
    mv, opt = store.latest_version()
    assert mv.version == 4 and unpack_arrays(opt) == {"t": 3}
    # a round can never be recorded twice, and the failed write leaves no new version behind
    with pytest.raises(sqlite3.IntegrityError):
        store.record_round(_record(3), ModelVersion.of(5, 3, model), pack_arrays({}))
    assert store.latest_version()[0].version == 4
    assert [r.round for r in store.rounds()] == [1, 2, 3]
    # retention: the sums of the last keep_versions (2) rounds are kept, older rounds keep their record
    assert store.rounds()[0].quantized_sum is None and store.rounds()[0].status == "completed"
    assert all(np.array_equal(r.quantized_sum, np.arange(5)) for r in store.rounds()[1:])
    store.close()
    again = Store(tmp_path / "s.db", keep_versions=2)
    assert again.last_round() == 3
    again.close()


def test_store_rollback_republishes_old_content(tmp_path):
    store = Store(tmp_path / "s.db", keep_versions=5)
    model = ItemModel.initial(6, 2, np.random.default_rng(1))
    first = ModelVersion.of(1, 0, model)
    store.publish_initial(first, pack_arrays({}))
    model.add_vector(np.ones(model.size, np.float32))
    store.record_round(_record(1), ModelVersion.of(2, 1, model), pack_arrays({}))
    mv = store.rollback(1, 3, 1)
    assert mv.version == 3 and mv.hash == first.hash
    assert store.latest_version()[0].hash == first.hash
    assert [e["kind"] for e in store.events()] == ["rollback"]
    store.close()


def test_store_detects_a_corrupted_model(tmp_path):
    store = Store(tmp_path / "s.db")
    store.publish_initial(ModelVersion.of(1, 0, ItemModel.initial(4, 2, np.random.default_rng(0))),
                          pack_arrays({}))
    store._db.execute("UPDATE versions SET vector = zeroblob(length(vector))")
    with pytest.raises(CheckpointError, match="corrupt"):
        store.latest_version()
    store.close()


def test_certificates_are_pem(certs):
    for p in (certs.ca, certs.cert, certs.key):
        assert p.read_bytes().startswith(b"-----BEGIN")
    assert (certs.key.stat().st_mode & 0o777) == 0o600


def test_dp_parameters_round_trip_and_malformed_ones_are_refused():
    import msgpack

    from secagg.dp.config import DPConfig
    from secagg.errors import InvalidMessageError
    from secagg.net.dp import params_from_wire, params_to_wire

    p = DPConfig(clip_norm=1.0, clients_per_round=5, num_users=50, rounds=3,
                 noise_multiplier=1.0).plan(40, "offset").params
    assert params_from_wire(params_to_wire(p)) == p
    body = msgpack.unpackb(params_to_wire(p))
    for bad in (b"\xc1", msgpack.packb({**body, "extra": 1}), msgpack.packb({**body, "scale": -1.0}),
                msgpack.packb({**body, "layout": "modular"}), msgpack.packb({**body, "bits": float("nan")})):
        with pytest.raises(InvalidMessageError):
            params_from_wire(bad)


def test_verifier_counters_survive_a_reopened_store_including_an_old_database(tmp_path):
    db = tmp_path / "old.db"  # a database written before the counters table existed
    con = sqlite3.connect(db)
    con.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
    con.commit()
    con.close()
    ident = ClientIdentity()
    first, second = _signed(ident), _signed(ident)
    store = Store(db)
    v = RequestVerifier(counters=store)
    assert v.verify("GetTask", first, ident.public) == 7
    assert v.verify("GetTask", second, ident.public) == 7
    store.save_counter(7, first.auth.counter)  # never lowers the stored counter
    store.close()
    store = Store(db)
    try:
        assert store.last_counters() == {7: second.auth.counter}
        v = RequestVerifier(counters=store)
        for replay in (first, second):
            with pytest.raises(ReplayError):
                v.verify("GetTask", replay, ident.public)
        assert v.verify("GetTask", _signed(ident), ident.public) == 7
        assert RequestVerifier().verify("GetTask", second, ident.public) == 7  # memory-only: no guard
    finally:
        store.close()
