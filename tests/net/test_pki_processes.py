"""The enrolment authority with real processes on 127.0.0.1: operators run ``secagg authority``;
certified clients train while an uncertified one cannot register; a malicious server that fills a
round with Sybils whose keys it holds learns nothing of the victim, who refuses the round.
Every process is killed by the ``procs`` fixture; every wait is bounded."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("grpc")

from secagg.net.store import Store  # noqa: E402

from .conftest import N_ITEMS_ARGS, TRAINING_ARGS, wait_for  # noqa: E402
from .test_processes import _log as events  # noqa: E402
from .test_processes import _rounds as rounds  # noqa: E402


def secagg(root: Path, *args: str) -> subprocess.CompletedProcess:
    """Run one ``secagg`` command to completion (bounded)."""
    return subprocess.run([sys.executable, "-m", "secagg.cli", *map(str, args)], cwd=root, capture_output=True,
                          text=True, timeout=120, env=dict(os.environ, PYTHONUNBUFFERED="1"))


def enrol(root: Path, authority: Path, subject: str, state_dir: Path) -> Path:
    """The operator's and the device's steps: token, signed request, certificate."""
    token, request = root / f"{subject}.token", root / f"{subject}.request"
    for args in (["authority", "token", "--dir", authority, "--subject", subject, "--out", token],
                 ["authority", "request", "--state-dir", state_dir, "--subject", subject,
                  "--token-file", token, "--out", request],
                 ["authority", "issue", "--dir", authority, "--request", request,
                  "--out", state_dir / "identity.crt"]):
        done = secagg(root, *args)
        assert done.returncode == 0, done.stderr
    return state_dir / "identity.crt"


def new_authority(root: Path, name: str) -> Path:
    done = secagg(root, "authority", "init", "--dir", root / name)
    assert done.returncode == 0, done.stderr
    return root / name


def test_enrolment_without_a_token_is_refused_and_certified_clients_train(tmp_path, certs, procs):
    root = tmp_path
    authority = new_authority(root, "authority")
    for i in range(3):
        enrol(root, authority, f"dev{i}", root / f"client{i}")
    # a request without a token: the authority refuses it (one line, exit 2, nothing written)
    assert secagg(root, "authority", "request", "--state-dir", root / "client3", "--subject", "dev3",
                  "--out", root / "dev3.request").returncode == 0
    refused = secagg(root, "authority", "issue", "--dir", authority, "--request", root / "dev3.request",
                     "--out", root / "client3" / "identity.crt")
    assert refused.returncode == 2 and "no enrolment token" in refused.stderr
    assert len(refused.stderr.strip().splitlines()) == 1 and not (root / "client3" / "identity.crt").exists()
    # nor does the server start with open enrolment unless told so
    open_ = secagg(root, "server", "--db", root / "x.db", "--cert", certs.cert, "--key", certs.key, "--n-items", "10")
    assert open_.returncode == 2 and "--insecure-open-enrolment" in open_.stderr and not (root / "x.db").exists()

    crl = root / "crl.pem"
    assert secagg(root, "authority", "crl", "--dir", authority, "--out", crl).returncode == 0
    roots = authority / "roots.pem"
    db = root / "server.db"
    server, port = procs.server(certs, db, "--authority-roots", str(roots), "--authority-crl", str(crl),
                                "--rounds", "1", "--min-clients", "3", "--clients-per-round", "3",
                                "--stage-timeout", "60", "--training-timeout", "60")
    # a device that pins the roots but was never enrolled does not even start
    unenrolled = secagg(root, "client", "--server", f"127.0.0.1:{port}", "--ca", certs.ca, "--state-dir",
                        root / "client4", "--user", "4", "--authority-roots", roots)
    assert unenrolled.returncode == 2 and "enrol this device first" in unenrolled.stderr
    intruder = procs.client(certs, port, 3)  # no certificate: registration is refused, the client stops
    assert intruder.wait(120) == 2
    refusal = (root / "client3.out").read_text()
    assert "CertificateError" in refusal and "no certificate" in refusal, refusal
    for i in range(3):
        procs.client(certs, port, i, "--authority-roots", str(roots), "--max-rounds", "1")
    wait_for(lambda: server.poll() is not None, 300, "the server to finish its round")
    assert server.returncode == 0
    (rec,) = rounds(db)
    assert rec.status == "completed" and len(rec.included) == 3
    s = Store(db)
    try:
        assert len(s.client_keys()) == 3  # the intruder never got an identity
    finally:
        s.close()
    intruder.kill()


def test_a_server_filling_a_round_with_sybils_learns_nothing_of_the_victim(tmp_path, certs, procs):
    """The server's operator runs 3 Sybil clients (keys it holds, certified by its own rogue root)
    and samples them with one honest victim; with the victim's input the 'sum' minus the Sybils'
    known inputs would be the victim's. The victim refuses the round before sending anything."""
    root = tmp_path
    authority = new_authority(root, "authority")
    rogue = new_authority(root, "rogue")
    enrol(root, authority, "victim", root / "client0")
    sybil_certs = [enrol(root, rogue, f"sybil{i}", root / f"client{i}") for i in range(1, 4)]
    crl = root / "crl.pem"  # the genuine, fresh CRL: the malicious server relays it to look honest
    assert secagg(root, "authority", "crl", "--dir", authority, "--out", crl).returncode == 0
    roots = authority / "roots.pem"
    db = root / "server.db"
    port_file = root / "server.port"
    server = procs.spawn(["--db", str(db), "--cert", str(certs.cert), "--key", str(certs.key),
                          "--address", "127.0.0.1:0", "--port-file", str(port_file), *N_ITEMS_ARGS,
                          *TRAINING_ARGS, "--log-file", str(root / "server.jsonl"),
                          "--authority-roots", str(roots), "--authority-crl", str(crl),
                          "--rounds", "1", "--min-clients", "4", "--clients-per-round", "4",
                          "--training-timeout", "20", "--stage-timeout", "20"],
                         root / "server.out", program=[str(Path(__file__).with_name("sybil_server.py"))])
    wait_for(lambda: port_file.exists() or server.poll() is not None, 120, "the server to listen")
    assert port_file.exists(), (root / "server.out").read_text()[-2000:]
    port = int(port_file.read_text())
    victim = procs.client(certs, port, 0, "--authority-roots", str(roots))
    for i, cert in enumerate(sybil_certs, start=1):  # the server's own clients trust it
        procs.client(certs, port, i, "--certificate", str(cert))

    refused = wait_for(lambda: [e for e in events(root / "client0.jsonl")
                                if e["event"] == "peer_certificates_rejected"], 120, "the victim to refuse")
    assert refused[0]["error"] == "CertificateError"
    assert "not issued by any pinned authority root" in refused[0]["reason"]
    wait_for(lambda: server.poll() is not None, 300, "the server to close its round")
    victim_id = json.loads((root / "client0" / "client.json").read_text())["client_id"]
    (rec,) = rounds(db)
    assert victim_id in rec.sampled and victim_id not in rec.included
    first = next(e for e in events(root / "server.jsonl")
                 if e["event"] == "stage_closed" and e["stage"] == "ADVERTISE_KEYS")
    assert first["expected"] == 4 and first["replied"] <= 3  # the victim sent nothing
    victim.kill()
