"""Prometheus metrics of the bot itself, on a registry per app (tests build many apps)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
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
        self.outbox_depth = Gauge(
            "copilot_outbox_depth", "Outgoing messages not delivered yet", registry=r
        )
        self.outbox_lag = Gauge(
            "copilot_outbox_lag_seconds", "Age of the oldest undelivered message", registry=r
        )
        self.loop_lag = Gauge(
            "copilot_event_loop_lag_seconds", "How late the event loop's timer fired", registry=r
        )
        self.handler_limit = Gauge(
            "copilot_handler_limit",
            "Handlers allowed to run at once (shrinks while the event loop lags)",
            registry=r,
        )
        self.workers = Gauge(
            "copilot_workers", "Worker processes running (serve --workers)", registry=r
        )
        self.deliveries = Counter(
            "copilot_outbox_deliveries", "Delivery attempts", ["platform", "result"], registry=r
        )
