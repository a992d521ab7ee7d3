"""Prometheus metrics of the bot itself, on a registry per app (tests build many apps).

With worker processes (`serve --workers N`) the serving process sets PROMETHEUS_MULTIPROC_DIR
before prometheus_client is imported; every process then keeps its counters, histograms and
gauges in files there, and the serving process's `/metrics` adds them up (prometheus_client's
multiprocess mode), so handler latency and errors counted by the workers are scraped from the
one HTTP endpoint.
"""

from __future__ import annotations

import os
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

MULTIPROC_DIR = "PROMETHEUS_MULTIPROC_DIR"


def multiprocess() -> bool:
    return bool(os.environ.get(MULTIPROC_DIR))


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self._collectors: list[Collector] = []
        self._combined: CollectorRegistry | None = None
        self._children: dict[tuple[int, tuple[str, ...]], Any] = {}
        r = self.registry
        self.requests = Counter(
            "copilot_http_requests", "HTTP requests", ["path", "status"], registry=r
        )
        self.ack_latency = Histogram(
            "copilot_ack_seconds",
            "Time from request to acknowledgement",
            ["platform"],
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 3),
            registry=r,
        )
        self.events = Counter(
            "copilot_events", "Inbound events", ["platform", "kind", "outcome"], registry=r
        )
        self.handler_latency = Histogram(
            "copilot_handler_seconds",
            "Handler latency",
            ["kind", "command"],
            buckets=(0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
            registry=r,
        )
        self.errors = Counter("copilot_errors", "Handler errors", ["kind"], registry=r)
        # multiprocess: the database-derived gauges are the same in every process (one series);
        # the per-process ones keep a pid label and vanish with their process
        self.outbox_depth = Gauge(
            "copilot_outbox_depth",
            "Outgoing messages not delivered yet",
            registry=r,
            multiprocess_mode="livemax",
        )
        self.outbox_lag = Gauge(
            "copilot_outbox_lag_seconds",
            "Age of the oldest undelivered message",
            registry=r,
            multiprocess_mode="livemax",
        )
        self.loop_lag = Gauge(
            "copilot_event_loop_lag_seconds",
            "How late the event loop's timer fired",
            registry=r,
            multiprocess_mode="liveall",
        )
        self.handler_limit = Gauge(
            "copilot_handler_limit",
            "Handlers allowed to run at once (shrinks while the event loop lags)",
            registry=r,
            multiprocess_mode="liveall",
        )
        self.workers = Gauge(
            "copilot_workers",
            "Worker processes running (serve --workers)",
            registry=r,
            multiprocess_mode="livemax",
        )
        self.inbox_depth = Gauge(
            "copilot_inbox_depth",
            "Events acknowledged and waiting for a handler (inbox status received)",
            registry=r,
            multiprocess_mode="livemax",
        )
        self.inbox_lag = Gauge(
            "copilot_inbox_lag_seconds",
            "Age of the oldest event waiting for a handler",
            registry=r,
            multiprocess_mode="livemax",
        )
        self.handler_backlog = Gauge(
            "copilot_handler_backlog",
            "Events this process has queued or is handling (bounded by COPILOT_HANDLER_BACKLOG)",
            registry=r,
            multiprocess_mode="liveall",
        )
        self.deliveries = Counter(
            "copilot_outbox_deliveries", "Delivery attempts", ["platform", "result"], registry=r
        )

    def child(self, metric: Any, *labels: str) -> Any:
        """`metric.labels(*labels)`, cached: prometheus_client validates and locks on every
        `labels()` call, and the acknowledgement path counts three times per request."""
        key = (id(metric), labels)
        found = self._children.get(key)
        if found is None:
            found = self._children[key] = metric.labels(*labels)
        return found

    def register(self, collector: Collector) -> None:
        """A collector computed at scrape time (e.g. from the database)."""
        self.registry.register(collector)
        self._collectors.append(collector)

    def exposition(self) -> bytes:
        """The text format for `/metrics`: this process's registry, or, with worker processes,
        every process's values added up plus this process's scrape-time collectors."""
        if not multiprocess():
            return generate_latest(self.registry)
        if self._combined is None:
            combined = CollectorRegistry(auto_describe=False)
            MultiProcessCollector(combined)
            for collector in self._collectors:
                combined.register(collector)
            self._combined = combined
        return generate_latest(self._combined)
