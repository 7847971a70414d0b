"""``secagg authority`` and the enrolment flags of ``secagg server/client/certs``: each step works,
and each refusal is one line on stderr, exit code 2, nothing written."""

from __future__ import annotations

import datetime
import json
import stat

import pytest

pytest.importorskip("grpc")

from cryptography import x509  # noqa: E402

from secagg.cli import main  # noqa: E402
from secagg.net.authority import Authority  # noqa: E402


def refused(capsys, argv, needle: str) -> None:
    capsys.readouterr()
    assert main([str(a) for a in argv]) == 2
    err = capsys.readouterr().err.strip()
    assert needle in err and len(err.splitlines()) == 1, err


def test_the_operator_workflow_and_its_refusals(tmp_path, capsys):
    a = tmp_path / "A"
    assert main(["authority", "init", "--dir", str(a)]) == 0
    assert stat.S_IMODE((a / "keys" / "root-1.key").stat().st_mode) == 0o600
    refused(capsys, ["authority", "init", "--dir", a], "already holds an authority")
    refused(capsys, ["authority", "token", "--dir", tmp_path / "none"], "holds no authority")

    token = tmp_path / "dev0.token"
    assert main(["authority", "token", "--dir", str(a), "--subject", "dev0", "--out", str(token)]) == 0
    assert stat.S_IMODE(token.stat().st_mode) == 0o600
    refused(capsys, ["authority", "token", "--dir", a, "--out", token], "exists")

    req, bare = tmp_path / "dev0.req", tmp_path / "bare.req"
    assert main(["authority", "request", "--state-dir", str(tmp_path / "dev0"), "--subject", "dev0",
                 "--token-file", str(token), "--out", str(req)]) == 0
    assert main(["authority", "request", "--state-dir", str(tmp_path / "dev1"), "--subject", "dev1",
                 "--out", str(bare)]) == 0
    assert stat.S_IMODE(req.stat().st_mode) == 0o600  # it carries the token
    refused(capsys, ["authority", "crl", "--dir", a, "--out", tmp_path / "no" / "crl.pem"], "cannot write")
    cert = tmp_path / "dev1.crt"
    refused(capsys, ["authority", "issue", "--dir", a, "--request", bare, "--out", cert], "no enrolment token")
    assert not cert.exists()
    refused(capsys, ["authority", "issue", "--dir", a, "--request", req, "--out", cert, "--days", "0"],
            "certificate lifetime")
    assert main(["authority", "issue", "--dir", str(a), "--request", str(req), "--out",
                 str(tmp_path / "dev0" / "identity.crt"), "--days", "10"]) == 0
    issued = x509.load_pem_x509_certificate((tmp_path / "dev0" / "identity.crt").read_bytes())
    left = issued.not_valid_after_utc - datetime.datetime.now(datetime.timezone.utc)
    assert datetime.timedelta(days=9) < left <= datetime.timedelta(days=10)
    refused(capsys, ["authority", "issue", "--dir", a, "--request", req, "--out", cert], "already used")
    assert main(["authority", "issue", "--dir", str(a), "--request", str(bare), "--out", str(cert),
                 "--approve"]) == 0

    capsys.readouterr()
    assert main(["authority", "list", "--dir", str(a), "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert sorted(r["by"] for r in rows) == ["operator approval", "token"]
    serial = next(r["serial"] for r in rows if r["subject"] == "dev1")
    refused(capsys, ["authority", "revoke", "--dir", a, "--serial", "ff"], "no certificate with serial")
    assert main(["authority", "revoke", "--dir", str(a), "--serial", serial]) == 0
    crl = tmp_path / "crl.pem"
    assert main(["authority", "crl", "--dir", str(a), "--out", str(crl)]) == 0
    assert [r.serial_number for r in x509.load_pem_x509_crl(crl.read_bytes())] == [int(serial, 16)]
    assert main(["authority", "rotate", "--dir", str(a)]) == 0
    assert len(x509.load_pem_x509_certificates((a / "roots.pem").read_bytes())) == 2

    held = Authority.open(a)  # another operator command still running
    try:
        refused(capsys, ["authority", "crl", "--dir", a, "--out", tmp_path / "crl2.pem"], "another secagg authority")
    finally:
        held.close()
    assert not (tmp_path / "crl2.pem").exists()


def test_server_client_and_certs_flags(tmp_path, capsys):
    assert main(["certs", "--out", str(tmp_path / "tls"), "--days", "5"]) == 0
    ca = x509.load_pem_x509_certificate((tmp_path / "tls" / "ca.pem").read_bytes())
    assert ca.not_valid_after_utc - ca.not_valid_before_utc < datetime.timedelta(days=5, minutes=10)
    assert "CA key was not kept" in capsys.readouterr().out
    refused(capsys, ["certs", "--out", tmp_path / "t2", "--days", "0"], "--days")
    assert not (tmp_path / "t2").exists()
    tls = tmp_path / "tls"
    server = ["server", "--db", tmp_path / "s.db", "--cert", tls / "server.pem", "--key", tls / "server.key",
              "--n-items", "10", "--address", "127.0.0.1:0"]
    refused(capsys, server, "--insecure-open-enrolment")
    assert main(["authority", "init", "--dir", str(tmp_path / "A")]) == 0
    refused(capsys, [*server, "--authority-roots", tmp_path / "A" / "roots.pem"], "--authority-crl")
    assert not (tmp_path / "s.db").exists()
    client = ["client", "--server", "127.0.0.1:1", "--ca", tls / "ca.pem", "--state-dir", tmp_path / "dev",
              "--user", "0"]
    refused(capsys, client, "--insecure-trust-server-keys")
    refused(capsys, [*client, "--authority-roots", tmp_path / "A" / "roots.pem"], "enrol this device first")
    assert not (tmp_path / "dev").exists()
