"""A scripted malicious aggregation server (a real gRPC server on 127.0.0.1, speaking the public
wire API) hands an honest client a round whose peer list it has doctored: Sybil identities whose
keys it holds, a certificate for another key, an expired or revoked certificate, one from another
root, a Sybil named in the session config but left out of the peer list, a stale or missing CRL.
The honest client, pinning the authority's roots, must refuse with
CertificateError before it fetches the model, trains or sends anything; a correct peer list is
accepted (the control that shows the check can pass)."""

from __future__ import annotations

import datetime
import threading
from concurrent import futures
from pathlib import Path

import grpc
import pytest

pytest.importorskip("grpc")

from secagg.net import logs  # noqa: E402
from secagg.net.auth import ClientIdentity  # noqa: E402
from secagg.net.authority import Authority  # noqa: E402
from secagg.net.client import NetClient  # noqa: E402
from secagg.net.pki import utcnow  # noqa: E402
from secagg.net.proto import secagg_net_pb2 as pb  # noqa: E402
from secagg.net.proto import secagg_net_pb2_grpc as pb_grpc  # noqa: E402
from secagg.protocol.config import INPUT_FLOAT, SessionConfig, default_modulus  # noqa: E402
from secagg.protocol.params import find_parameters  # noqa: E402
from secagg.protocol.server import SecAggServer  # noqa: E402

from .conftest import wait_for  # noqa: E402
from .pki_helpers import backdated_certificate, backdated_crl, der, enrol, enrol_state_dir  # noqa: E402
from .test_processes import _log as _events  # noqa: E402

VICTIM = 1


class ScriptedServer(pb_grpc.AggregationServicer):
    """Registers the victim as client 1, hands it one doctored ADVERTISE_KEYS task, records calls."""

    def __init__(self, doctor) -> None:
        self.doctor = doctor  # (victim public key) -> (peers, revocation lists)
        self.calls: list[str] = []
        self.victim_key = b""
        self.handed = False
        self.lock = threading.Lock()

    def Register(self, request, context):
        with self.lock:
            self.calls.append("Register")
            self.victim_key = bytes(request.public_key)
        return pb.RegisterReply(client_id=VICTIM, run_id="scripted", instance=b"scripted-instance")

    def GetTask(self, request, context):
        with self.lock:
            self.calls.append("GetTask")
            if self.handed:
                return pb.Task(kind=pb.Task.WAIT, retry_after_ms=200)
            self.handed = True
            peers, crl, *extra = self.doctor(self.victim_key)
            request = advertise_request(sorted({p.client_id for p in peers} | set(*extra)))
        return pb.Task(kind=pb.Task.STAGE, round=1, stage=0, session_id=b"s" * 32, model_version=1,
                       model_hash="0" * 64, peers=peers, revocation_lists=crl, request=request)

    def GetModel(self, request, context):
        with self.lock:
            self.calls.append("GetModel")
        context.abort(grpc.StatusCode.NOT_FOUND, "scripted server: no model")

    def Submit(self, request, context):
        with self.lock:
            self.calls.append("Submit")
        return pb.SubmitReply(accepted=True)


def advertise_request(client_ids: list[int]) -> bytes:
    """The victim's ADVERTISE_KEYS request of an active SecAgg+ session over ``client_ids``."""
    n = len(client_ids)
    graph = find_parameters(n, corrupt_fraction=0.05, dropout_fraction=0.3, threat_model="active")
    config = SessionConfig(client_ids=tuple(client_ids), graph_kind=graph.kind, degree=graph.degree,
                           threshold=graph.threshold, modulus_range=default_modulus(n, 2**16),
                           vector_length=64, clipping_range=1.0, quantization_range=2**16,
                           threat_model="active", input_kind=INPUT_FLOAT)
    return SecAggServer(config, identity_registry={c: bytes(32) for c in client_ids}).start()[VICTIM]


@pytest.fixture
def pki(tmp_path):
    authority = Authority.init(tmp_path / "authority")
    honest = [enrol(authority, f"honest-{i}") for i in range(2)]
    return authority, honest


def _peer(cid: int, key: bytes, cert: bytes) -> pb.Peer:
    return pb.Peer(client_id=cid, public_key=key, certificate=cert)


def _scenarios(tmp_path: Path, authority: Authority, honest, victim_cert: bytes):
    """name -> (doctor, expected reason, or None for the control)."""
    fresh_crl = authority.crl()
    sybils = [ClientIdentity() for _ in range(2)]  # keys the server holds
    rogue = Authority.init(tmp_path / "rogue")
    rogue_certs = [enrol(rogue, f"sybil-{i}", s)[1] for i, s in enumerate(sybils)]
    now = utcnow()
    expired = ClientIdentity()
    expired_cert = backdated_certificate(authority, expired, "expired", now - datetime.timedelta(days=30),
                                         now - datetime.timedelta(days=1))
    revoked, revoked_cert = enrol(authority, "revoked")
    authority.revoke(next(r["serial"] for r in authority.listing() if r["subject"] == "revoked"))
    crl_with_revocation = authority.crl()
    stale_crl = backdated_crl(authority, now - datetime.timedelta(days=10), now - datetime.timedelta(days=8))

    def honest_peers(victim_key):
        return [_peer(VICTIM, victim_key, victim_cert)] + [_peer(10 + i, ident.public, cert)
                                                            for i, (ident, cert) in enumerate(honest)]

    def with_extra(extra, crl):
        return lambda key: (honest_peers(key) + extra, crl)

    return {
        "control: every peer certified": (with_extra([], fresh_crl), None),
        "Sybils without certificates": (
            with_extra([_peer(50 + i, s.public, b"") for i, s in enumerate(sybils)], fresh_crl),
            "no certificate"),
        "Sybils certified by another root": (
            with_extra([_peer(50 + i, s.public, c) for i, (s, c) in enumerate(zip(sybils, rogue_certs))],
                       fresh_crl), "not issued by any pinned"),
        "a Sybil key with an honest peer's certificate": (
            with_extra([_peer(50, sybils[0].public, honest[0][1])], fresh_crl), "for another key"),
        "an expired certificate": (with_extra([_peer(60, expired.public, expired_cert)], fresh_crl),
                                   "outside its validity window"),
        "a revoked certificate": (with_extra([_peer(61, revoked.public, revoked_cert)], crl_with_revocation),
                                  "is revoked"),
        "a Sybil in the session config the peer list leaves out": (
            lambda key: (honest_peers(key), fresh_crl, [99]), "no certified identity"),
        "a stale CRL": (with_extra([], stale_crl), "stale"),
        "no CRL": (with_extra([], b""), "no revocation list"),
    }


SCENARIOS = ["control: every peer certified", "Sybils without certificates", "Sybils certified by another root",
             "a Sybil key with an honest peer's certificate", "a Sybil in the session config the peer list leaves out",
             "an expired certificate", "a revoked certificate",
             "a stale CRL", "no CRL"]


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_an_honest_client_refuses_a_doctored_peer_list_before_sending_anything(tmp_path, certs, pki, scenario):
    authority, honest = pki
    state = tmp_path / "victim"
    enrol_state_dir(authority, state, "victim")
    victim_cert = der((state / "identity.crt").read_bytes())
    doctor, reason = _scenarios(tmp_path, authority, honest, victim_cert)[scenario]
    service = ScriptedServer(doctor)
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    pb_grpc.add_AggregationServicer_to_server(service, server)
    creds = grpc.ssl_server_credentials([(certs.key.read_bytes(), certs.cert.read_bytes())])
    port = server.add_secure_port("127.0.0.1:0", creds)
    server.start()
    log = tmp_path / "victim.jsonl"
    client = NetClient(f"127.0.0.1:{port}", ca=certs.ca, state_dir=state, trainer=None, poll_wait=0.2,
                       backoff=(0.05, 0.2), authority_roots=authority.roots_path, model_shape=(20, 3),
                       logger=logs.get_logger(f"test.pki.{scenario}", path=log))
    runner = threading.Thread(target=client.run, kwargs={"max_seconds": 300}, daemon=True)
    runner.start()
    try:
        if reason is None:  # the control: the round is accepted, so the client asks for the model
            wait_for(lambda: "GetModel" in service.calls, 120, "the client to accept the round")
            assert not [e for e in _events(log) if e["event"] == "peer_certificates_rejected"]
            return
        def outcome():
            return [e for e in _events(log) if e["event"] == "peer_certificates_rejected"] or \
                ("GetModel" in service.calls)

        rejected = wait_for(outcome, 120, "the client to refuse or accept the round")
        assert rejected is not True, "the client accepted the doctored round and asked for the model"
        assert rejected[0]["error"] == "CertificateError" and reason in rejected[0]["reason"], rejected
        # refused before anything: no model fetched (so no training), nothing submitted
        wait_for(lambda: service.calls.count("GetTask") >= 2, 120, "the client to poll again")
        assert "GetModel" not in service.calls and "Submit" not in service.calls
        assert client.session is None and client.rounds_joined == 0
    finally:
        client.stop()
        runner.join(60)
        client.close()
        server.stop(0).wait(5)
