"""Units of the operations endpoints: the admin token file, the Admin service's refusals, the
round history behind the metrics, the metrics page (parsed as Prometheus text) and the status
rendering with whatever epsilon fields the DP ledger holds."""

from __future__ import annotations

import dataclasses
import logging
import os
import stat

import pytest

pytest.importorskip("grpc")
pytest.importorskip("prometheus_client", reason="the metrics need the [net] extra's prometheus_client")

import grpc  # noqa: E402
from prometheus_client import CollectorRegistry, generate_latest  # noqa: E402
from prometheus_client.parser import text_string_to_metric_families  # noqa: E402

from secagg.errors import ConfigError  # noqa: E402
from secagg.net import admin_token  # noqa: E402
from secagg.net.admin_service import AdminService  # noqa: E402
from secagg.net.metrics import RoundHistory, ServerCollector, reason_class  # noqa: E402
from secagg.net.proto import secagg_net_pb2 as pb  # noqa: E402
from secagg.net.remote_status import format_live  # noqa: E402
from secagg.net.request_stats import RequestCounts  # noqa: E402
from secagg.net.store import Store  # noqa: E402

from .test_units import _record  # noqa: E402


def test_admin_token_is_made_private_once_and_reused(tmp_path):
    path = tmp_path / "run.db.admin-token"
    token = admin_token.load_or_create(path)
    assert len(token) >= 32 and stat.S_IMODE(path.stat().st_mode) == 0o600
    assert admin_token.load_or_create(path) == token  # a restart keeps the operator's token
    assert admin_token.default_path(tmp_path / "run.db") == path


def test_admin_token_file_readable_by_others_or_short_is_refused(tmp_path):
    path = tmp_path / "t"
    path.write_bytes(b"x" * 40)
    os.chmod(path, 0o644)
    with pytest.raises(ConfigError, match="chmod 600"):
        admin_token.read(path)
    os.chmod(path, 0o600)
    path.write_bytes(b"short")
    with pytest.raises(ConfigError, match="shorter than 16"):
        admin_token.read(path)
    with pytest.raises(ConfigError, match="cannot read"):
        admin_token.read(tmp_path / "missing")


class _Refused(Exception):
    pass


class _Context:
    def peer(self) -> str:
        return "ipv4:127.0.0.1:1"

    def abort(self, code, details):
        raise _Refused(code, details)


def test_admin_service_refuses_missing_and_wrong_tokens_before_any_work():
    calls = []
    svc = AdminService(b"t" * 32, lambda: calls.append(1) or {"health": "ok"},
                       logger=logging.getLogger("test.admin"))
    with pytest.raises(_Refused) as missing:
        svc.GetStatus(pb.StatusRequest(), _Context())
    assert missing.value.args[0] is grpc.StatusCode.UNAUTHENTICATED
    for wrong in (b"t" * 31, b"t" * 31 + b"u", b"t" * 33):
        with pytest.raises(_Refused) as refused:
            svc.GetStatus(pb.StatusRequest(admin_token=wrong), _Context())
        assert refused.value.args[0] is grpc.StatusCode.PERMISSION_DENIED
    assert calls == []  # the status was never computed for a refused caller
    assert svc.GetStatus(pb.StatusRequest(admin_token=b"t" * 32), _Context()).status_json


def test_reason_class_names_the_exception():
    assert reason_class("ThresholdError: 2 survivors < threshold 3") == "ThresholdError"
    assert reason_class(None) == "none"
    assert reason_class("something went wrong") == "other"


def _status(privacy=None, round_=None):
    return {"health": "degraded", "healthy": True, "reason": "1 round(s) in a row aborted",
            "run_id": "r1", "server_version": "0.1.0", "uptime_s": 5.0, "round": round_,
            "clients": {"online": 3, "registered": 4},
            "rounds": {"completed": 2, "aborted": 1, "recorded": 3, "completed_by_this_process": 2,
                       "aborted_in_a_row": 1},
            "recent_rounds": [{"round": 3, "status": "aborted", "sampled": 3, "included": 0,
                               "stages": {}, "abort_reason": "ThresholdError: too few", "seconds": 1.0}],
            "privacy": privacy, "model": {"current_version": 3, "kept": [{"version": 3, "round": 2,
                                                                          "hash": "ab"}]},
            "process": {"pid": 1, "cpu_seconds": 1.5, "rss_bytes": 2**20, "threads": 9}}


def _scrape(tmp_path, status, counts=None):
    store = Store(tmp_path / "s.db")
    store.record_round(_record(1), None, None)
    aborted = dataclasses.replace(_record(2, "aborted"), abort_reason="ThresholdError: too few",
                                  quantized_sum=None)
    store.record_round(aborted, None, None)
    registry = CollectorRegistry(auto_describe=False)
    registry.register(ServerCollector(lambda: status, RoundHistory(store), counts or RequestCounts()))
    text = generate_latest(registry).decode()
    store.close()
    return text, {s.name + repr(sorted(s.labels.items())): s.value
                  for f in text_string_to_metric_families(text) for s in f.samples}


def test_metrics_page_parses_and_counts_rounds_by_reason_and_every_epsilon(tmp_path):
    counts = RequestCounts()
    counts.add("Submit", "OK")
    counts.add("Submit", "OK")
    counts.add("GetTask", "UNAUTHENTICATED")
    cur = {"round": 4, "stage": "SHARE_KEYS", "expected": 3, "replied": 1, "rejected": 0,
           "deadline_in_s": 7.5}
    privacy = {"round": 2, "epsilon": 1.5, "epsilon_user": 3.0, "delta": 1e-5}  # two epsilons (DP ledger)
    text, samples = _scrape(tmp_path, _status(privacy, cur), counts)
    assert samples["secagg_rounds_total[('reason', 'none'), ('status', 'completed')]"] == 1
    assert samples["secagg_rounds_total[('reason', 'ThresholdError'), ('status', 'aborted')]"] == 1
    assert samples["secagg_dp_epsilon[('field', 'epsilon')]"] == 1.5
    assert samples["secagg_dp_epsilon[('field', 'epsilon_user')]"] == 3.0
    assert samples["secagg_requests_total[('method', 'Submit'), ('status', 'OK')]"] == 2
    assert samples["secagg_requests_total[('method', 'GetTask'), ('status', 'UNAUTHENTICATED')]"] == 1
    assert samples["secagg_round_in_progress[]"] == 4
    assert samples["secagg_round_stage[('stage', 'SHARE_KEYS')]"] == 1
    assert samples["secagg_round_stage_clients[('kind', 'replied')]"] == 1
    assert samples["secagg_round_stage_deadline_seconds[]"] == 7.5
    assert samples["secagg_stage_duration_seconds_count[('stage', 'MASKED_INPUT')]"] == 2
    assert samples["secagg_stage_duration_seconds_bucket[('le', '0.1'), ('stage', 'MASKED_INPUT')]"] == 2
    assert samples["secagg_clients[('state', 'registered')]"] == 4
    assert samples["secagg_server_threads[]"] == 9
    assert samples["secagg_healthy[]"] == 1
    assert "# TYPE secagg_rounds_total counter" in text


def test_status_text_shows_every_epsilon_field_and_abort_reasons():
    text = format_live(_status({"round": 2, "epsilon": 1.5, "epsilon_user": 3.0, "delta": 1e-5}))
    assert "epsilon 1.5" in text and "epsilon_user 3" in text and "delta 1e-05" in text
    assert "reason: ThresholdError: too few" in text
    assert "no round" in format_live(_status(None))


def test_database_status_shows_every_epsilon_field_the_ledger_has():
    from secagg.net.status import format_summary

    s = {"db": "run.db", "run_id": "r", "rounds_recorded": 1, "rounds_completed": 1, "rounds_aborted": 0,
         "clients_registered": 3, "current_version": None, "kept_versions": [], "last_round": None,
         "rollbacks": [], "privacy": {"round": 1, "epsilon_sample": 0.5, "epsilon_user": 2.0, "delta": 1e-6}}
    line = [x for x in format_summary(s).splitlines() if x.startswith("privacy")][0]
    assert "epsilon_sample 0.5" in line and "epsilon_user 2" in line and "after round 1" in line
