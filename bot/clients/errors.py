"""Errors shared by the telemetry clients."""

from __future__ import annotations


class TelemetryUnavailable(Exception):
    """A telemetry source (Prometheus, Alertmanager) could not answer; `reason` says why."""

    def __init__(self, source: str, reason: str) -> None:
        super().__init__(f"{source}: {reason}")
        self.source = source
        self.reason = reason
