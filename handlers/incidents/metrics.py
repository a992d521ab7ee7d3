"""Incident outcome metrics read from the database at scrape time (/metrics)."""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from typing import Any

from prometheus_client.core import GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy.engine import Engine

from storage import incidents as repo
from storage.db import unit_of_work

log = logging.getLogger(__name__)

MTTR_BUCKETS = (300, 900, 1800, 3600, 7200, 14400, 43200, 86400)
FIRST_UPDATE_BUCKETS = (60, 300, 600, 900, 1800, 3600)


def _histogram(
    name: str, doc: str, values: Sequence[float], buckets: Sequence[float]
) -> HistogramMetricFamily:
    counts = []
    for bound in buckets:
        counts.append((str(float(bound)), float(sum(1 for v in values if v <= bound))))
    counts.append(("+Inf", float(len(values))))
    return HistogramMetricFamily(name, doc, buckets=counts, sum_value=float(sum(values)))


class IncidentCollector(Collector):
    """MTTR, time to first status update, open/resolved counts, share summarized."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def describe(self) -> list[Any]:
        return []  # collected from the database on every scrape

    def collect(self) -> Iterator[Any]:
        try:
            with unit_of_work(self.engine) as s:
                rows = repo.metric_rows(s)
        except Exception:  # the database is reported by /readyz; metrics stay served
            log.warning("incident metrics unavailable", exc_info=True)
            return
        counts = GaugeMetricFamily(
            "copilot_incidents", "Incidents by severity and state", labels=["severity", "state"]
        )
        tally: dict[tuple[str, str], int] = {}
        for severity, status, *_ in rows:
            state = "resolved" if status == "resolved" else "open"
            tally[(str(severity), state)] = tally.get((str(severity), state), 0) + 1
        for (severity, state), n in sorted(tally.items()):
            counts.add_metric([severity, state], n)
        yield counts
        mttr = [r[2] for r in rows if r[2] is not None]
        yield _histogram(
            "copilot_incident_mttr_seconds",
            "Time from declare to resolve of resolved incidents",
            mttr,
            MTTR_BUCKETS,
        )
        first = [r[3] for r in rows if r[3] is not None]
        yield _histogram(
            "copilot_incident_first_update_seconds",
            "Time from declare to the first human status update",
            first,
            FIRST_UPDATE_BUCKETS,
        )
        ratio = GaugeMetricFamily(
            "copilot_incidents_summarized_ratio", "Share of incidents with at least one summary"
        )
        ratio.add_metric([], (sum(1 for r in rows if r[4]) / len(rows)) if rows else 0.0)
        yield ratio


def install(app: Any) -> None:
    """Register the collector on the app's registry."""
    app.metrics.register(IncidentCollector(app.engine))
