"""Status over the network and Prometheus metrics, against real server and client processes on
127.0.0.1: the round in progress is visible stage by stage, the admin endpoint refuses callers
without the admin token (a client identity is no admin credential), the metrics page is scraped
over HTTP, and the health check follows the server's life."""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.request

import pytest

pytest.importorskip("prometheus_client", reason="the metrics need the [net] extra's prometheus_client")

import grpc  # noqa: E402
from prometheus_client.parser import text_string_to_metric_families  # noqa: E402

from secagg.net.proto import secagg_net_pb2 as pb  # noqa: E402
from secagg.net.proto import secagg_net_pb2_grpc as pb_grpc  # noqa: E402

from .conftest import wait_for  # noqa: E402


def _status_cli(root, port, certs, token_file, *extra):
    return subprocess.run([sys.executable, "-m", "secagg.cli", "status", "--server", f"127.0.0.1:{port}",
                           "--ca", str(certs.ca), "--admin-token-file", str(token_file), *extra],
                          capture_output=True, text=True, timeout=120, cwd=root)


def _status(root, port, certs, token_file):
    out = _status_cli(root, port, certs, token_file, "--json")
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def _scrape(port):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=30) as r:
        text = r.read().decode()
    return {s.name + repr(sorted(s.labels.items())): s.value
            for f in text_string_to_metric_families(text) for s in f.samples}


def _metrics_port(root):
    for line in (root / "server.jsonl").read_text().splitlines():
        rec = json.loads(line)
        if rec["event"] == "metrics_listening":
            return rec["port"]
    return None


def test_status_and_metrics_of_a_running_server(procs, certs, tmp_path):
    db = tmp_path / "run.db"
    token_file = tmp_path / "admin.token"
    server, port = procs.server(certs, db, "--clients-per-round", "3", "--min-clients", "3",
                                "--admin-token-file", str(token_file),
                                "--metrics-address", "127.0.0.1:0")
    assert token_file.stat().st_mode & 0o777 == 0o600
    gate = tmp_path / "gate"
    for user in range(3):
        procs.client(certs, port, user, gate=gate)

    # round 1 waits in ADVERTISE_KEYS (the clients' training is gated): the stage is visible live
    s = wait_for(lambda: (lambda st: st if st["round"] else None)(_status(tmp_path, port, certs, token_file)),
                 120, "round 1 to start")
    assert s["health"] == "ok" and s["healthy"] and s["run_id"]
    assert s["round"]["round"] == 1 and s["round"]["stage"] == "ADVERTISE_KEYS"
    assert s["round"]["expected"] == 3 and s["round"]["replied"] == 0 and s["round"]["deadline_s"] > 0
    assert s["clients"] == {"online": 3, "registered": 3}
    assert [v["version"] for v in s["model"]["kept"]] == [1]
    text = _status_cli(tmp_path, port, certs, token_file)
    assert text.returncode == 0 and "round 1, stage ADVERTISE_KEYS: 0/3 replied" in text.stdout

    mport = wait_for(lambda: _metrics_port(tmp_path), 60, "the metrics port in the log")
    m = _scrape(mport)
    assert m["secagg_round_in_progress[]"] == 1
    assert m["secagg_round_stage[('stage', 'ADVERTISE_KEYS')]"] == 1
    assert m["secagg_round_stage_clients[('kind', 'expected')]"] == 3
    assert m["secagg_clients[('state', 'online')]"] == 3
    assert m["secagg_server_threads[]"] > 0 and m["secagg_server_cpu_seconds_total[]"] > 0

    # the adversary: no token, a guessed token, and a client's own identity are all refused
    channel = grpc.secure_channel(f"127.0.0.1:{port}", grpc.ssl_channel_credentials(certs.ca.read_bytes()))
    stub = pb_grpc.AdminStub(channel)
    for token, code in ((b"", grpc.StatusCode.UNAUTHENTICATED),
                        (token_file.read_bytes().strip()[:-1] + b"A", grpc.StatusCode.PERMISSION_DENIED),
                        ((tmp_path / "client0" / "identity.key").read_bytes(), grpc.StatusCode.PERMISSION_DENIED)):
        with pytest.raises(grpc.RpcError) as refused:
            stub.GetStatus(pb.StatusRequest(admin_token=token), timeout=60)
        assert refused.value.code() is code
    channel.close()
    wrong = tmp_path / "wrong.token"
    wrong.write_text("not-the-admin-token-at-all")
    wrong.chmod(0o600)
    out = _status_cli(tmp_path, port, certs, wrong)
    assert out.returncode == 2 and out.stdout == ""
    assert out.stderr.count("\n") == 1 and "refused the admin token (PERMISSION_DENIED" in out.stderr
    assert '"admin_refused"' in (tmp_path / "server.jsonl").read_text()

    gate.touch()  # let the rounds run
    s = wait_for(lambda: (lambda st: st if st["rounds"]["completed"] >= 2 else None)(
        _status(tmp_path, port, certs, token_file)), 180, "two completed rounds")
    assert s["recent_rounds"][0]["status"] == "completed" and s["recent_rounds"][0]["included"] == 3
    assert s["model"]["current_version"] >= 3
    m = _scrape(mport)
    assert m["secagg_rounds_total[('reason', 'none'), ('status', 'completed')]"] >= 2
    assert m["secagg_stage_duration_seconds_count[('stage', 'UNMASKING')]"] >= 2
    # the clients reply on their task streams (secagg client's default transport)
    assert m["secagg_requests_total[('method', 'Session/Submit'), ('status', 'OK')]"] >= 2 * 3 * 4
    assert m["secagg_requests_total[('method', 'Register'), ('status', 'OK')]"] == 3
    assert m["secagg_model_version[]"] >= 3

    health = _status_cli(tmp_path, port, certs, token_file, "--health")
    assert health.returncode == 0 and health.stdout.startswith("ok: ")
    server.kill()
    server.wait(60)
    health = _status_cli(tmp_path, port, certs, token_file, "--health", "--timeout", "5")
    assert health.returncode == 1 and health.stderr.startswith("unhealthy: ")


def test_status_command_refuses_bad_options_in_one_line(tmp_path):
    cases = [(["--server", "127.0.0.1:1"], "--server needs --ca"),
             (["--db", str(tmp_path / "x.db"), "--health"], "--health asks a running server")]
    for args, message in cases:
        out = subprocess.run([sys.executable, "-m", "secagg.cli", "status", *args], capture_output=True,
                             text=True, timeout=120, cwd=tmp_path)
        assert out.returncode == 2 and out.stderr.count("\n") == 1 and message in out.stderr
    assert list(tmp_path.iterdir()) == []
