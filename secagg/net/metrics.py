"""Prometheus metrics of a running server (``secagg server --metrics-address HOST:PORT``).

Served in the Prometheus text exposition format on ``/metrics`` by ``prometheus_client``'s HTTP
server, from a collector that reads the server's state at each scrape: nothing is sampled in
between, and counters of rounds and stage durations are rebuilt from the database, so they
continue across restarts. The page holds counts, durations and epsilon only - no keys, tokens or
client data - but it is not authenticated: bind it to loopback or a monitoring network.
"""

from __future__ import annotations

import re
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

from ..errors import ConfigError, DependencyError
from .request_stats import RequestCounts
from .store import Store

STAGE_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0)
EPSILON_FIELD = re.compile(r"epsilon", re.IGNORECASE)


def reason_class(reason: str | None) -> str:
    """The exception class of an abort reason (``"ThresholdError: ..."`` -> ``ThresholdError``)."""
    if not reason:
        return "none"
    head = reason.split(":", 1)[0].strip()
    return head if head.isidentifier() else "other"


class RoundHistory:
    """Round outcomes and stage durations, read incrementally from the database."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.after = 0
        self.outcomes: Counter[tuple[str, str]] = Counter()
        self.rejected = 0
        self.stage_counts: dict[str, list[int]] = {}
        self.stage_sums: Counter[str] = Counter()
        self._lock = threading.Lock()

    def update(self) -> None:
        with self._lock:
            for rnd, status, reason, stages in self.store.rounds_since(self.after):
                self.after = rnd
                self.outcomes[(status, reason_class(reason) if status == "aborted" else "none")] += 1
                for name, st in stages.items():
                    seconds = float(st.get("seconds", 0.0))
                    self.rejected += int(st.get("rejected", 0))
                    counts = self.stage_counts.setdefault(name, [0] * (len(STAGE_BUCKETS) + 1))
                    for i, bound in enumerate(STAGE_BUCKETS):
                        if seconds <= bound:
                            counts[i] += 1
                    counts[-1] += 1
                    self.stage_sums[name] += seconds


class ServerCollector:
    """A ``prometheus_client`` collector over the live status, the round history and the calls."""

    def __init__(self, status: Callable[[], dict[str, Any]], history: RoundHistory,
                 requests: RequestCounts) -> None:
        self.status = status
        self.history = history
        self.requests = requests

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import (
            CounterMetricFamily,
            GaugeMetricFamily,
            HistogramMetricFamily,
        )

        s = self.status()
        self.history.update()
        h = self.history
        yield GaugeMetricFamily("secagg_healthy", "1 while the server runs rounds (health ok or "
                                "degraded), else 0", value=int(bool(s["healthy"])))
        rounds = CounterMetricFamily("secagg_rounds", "Rounds recorded in the database, by status "
                                     "and abort reason class", labels=["status", "reason"])
        for (status, reason), n in sorted(h.outcomes.items()):
            rounds.add_metric([status, reason], n)
        yield rounds
        yield CounterMetricFamily("secagg_rejected_replies", "Protocol replies rejected in recorded "
                                  "rounds", value=h.rejected)
        hist = HistogramMetricFamily("secagg_stage_duration_seconds", "Duration of each protocol "
                                     "stage of recorded rounds", labels=["stage"])
        for name, counts in sorted(h.stage_counts.items()):
            buckets = [(repr(b), counts[i]) for i, b in enumerate(STAGE_BUCKETS)] + [("+Inf", counts[-1])]
            hist.add_metric([name], buckets, h.stage_sums[name])
        yield hist
        clients = GaugeMetricFamily("secagg_clients", "Clients online (seen within the liveness "
                                    "window) and registered", labels=["state"])
        clients.add_metric(["online"], s["clients"]["online"])
        clients.add_metric(["registered"], s["clients"]["registered"])
        yield clients
        yield from self._round(s.get("round"))
        yield GaugeMetricFamily("secagg_model_version", "Current model version",
                                value=s["model"]["current_version"])
        eps = GaugeMetricFamily("secagg_dp_epsilon", "Privacy spent so far, every epsilon field of "
                                "the DP ledger", labels=["field"])
        for field, value in sorted((s.get("privacy") or {}).items()):
            if EPSILON_FIELD.search(field) and isinstance(value, (int, float)):
                eps.add_metric([field], float(value))
        yield eps
        calls = CounterMetricFamily("secagg_requests", "Calls finished, by method and gRPC status",
                                    labels=["method", "status"])
        for (method, status), n in sorted(self.requests.snapshot().items()):
            calls.add_metric([method, status], n)
        yield calls
        p = s["process"]
        yield CounterMetricFamily("secagg_server_cpu_seconds", "CPU time of the server process "
                                  "(user + system)", value=p["cpu_seconds"])
        if p["rss_bytes"] is not None:
            yield GaugeMetricFamily("secagg_server_resident_memory_bytes", "Resident memory of the "
                                    "server process", value=p["rss_bytes"])
        yield GaugeMetricFamily("secagg_server_threads", "Threads of the server process",
                                value=p["threads"])

    @staticmethod
    def _round(r: dict[str, Any] | None) -> Iterator[Any]:
        from prometheus_client.core import GaugeMetricFamily

        yield GaugeMetricFamily("secagg_round_in_progress", "Number of the round in progress (0: none)",
                                value=r["round"] if r else 0)
        stage = GaugeMetricFamily("secagg_round_stage", "1 for the open stage of the round in "
                                  "progress", labels=["stage"])
        clients = GaugeMetricFamily("secagg_round_stage_clients", "Clients of the open stage: "
                                    "expected, replied, rejected", labels=["kind"])
        deadline = GaugeMetricFamily("secagg_round_stage_deadline_seconds", "Seconds left before the "
                                     "open stage's deadline")
        if r:
            stage.add_metric([r["stage"]], 1)
            for kind in ("expected", "replied", "rejected"):
                clients.add_metric([kind], r[kind])
            deadline.add_metric([], r["deadline_in_s"])
        yield stage
        yield clients
        yield deadline


class MetricsServer:
    """The /metrics HTTP endpoint on ``address`` (``host:port``; port 0 picks one, see :attr:`port`)."""

    def __init__(self, address: str, collector: ServerCollector) -> None:
        try:
            from prometheus_client import CollectorRegistry, start_http_server
        except ImportError:
            raise DependencyError('--metrics-address needs prometheus_client: pip install '
                                  '"secagg[net]"') from None
        host, sep, port = address.rpartition(":")
        if not sep or not port.isdigit() or not host:
            raise ConfigError(f"--metrics-address must be HOST:PORT, got {address!r}")
        registry = CollectorRegistry(auto_describe=False)
        registry.register(collector)
        try:
            self.httpd, self.thread = start_http_server(int(port), addr=host.strip("[]"), registry=registry)
        except OSError as exc:
            raise ConfigError(f"cannot serve metrics on {address}: {exc.strerror or exc} (another "
                              "server?); choose another --metrics-address") from None
        self.port = int(self.httpd.server_port)

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(5)
