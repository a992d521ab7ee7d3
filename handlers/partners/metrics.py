"""Partner metrics read from the database at scrape time (/metrics)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy.engine import Engine

from handlers.incidents.metrics import _histogram
from storage import partners as repo
from storage import sandboxes
from storage.db import unit_of_work

log = logging.getLogger(__name__)
CYCLE_BUCKETS = (3600, 4 * 3600, 86400, 3 * 86400, 7 * 86400, 30 * 86400)


class PartnerCollector(Collector):
    """Offers by state, intake cycle time, checklist coverage, Trust Center completion,
    sandboxes active and by status."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def describe(self) -> list[Any]:
        return []

    def collect(self) -> Iterator[Any]:
        try:
            with unit_of_work(self.engine) as s:
                rows = [
                    (r.state, r.started_at, r.completed_at, r.coverage) for r in repo.listing(s)
                ]
                boxes = sandboxes.count_by_status(s)
        except Exception:
            log.warning("partner metrics unavailable", exc_info=True)
            return
        offers = GaugeMetricFamily(
            "copilot_partner_offers", "Partner offers by state", labels=["state"]
        )
        tally: dict[str, int] = {}
        for state, *_ in rows:
            tally[state] = tally.get(state, 0) + 1
        for state, n in sorted(tally.items()):
            offers.add_metric([state], n)
        yield offers
        cycle = [(c - s).total_seconds() for _, s, c, _ in rows if c is not None]
        yield _histogram(
            "copilot_partner_intake_cycle_seconds",
            "Time from intake start to all answers in",
            cycle,
            CYCLE_BUCKETS,
        )
        cov = [c for _, _, _, c in rows if c is not None]
        coverage = GaugeMetricFamily(
            "copilot_partner_checklist_coverage_ratio",
            "Mean checklist coverage of completed intakes",
        )
        coverage.add_metric([], sum(cov) / len(cov) if cov else 0.0)
        yield coverage
        published = [c for st, _, _, c in rows if st == "published"]
        complete = GaugeMetricFamily(
            "copilot_partner_trust_center_complete_ratio",
            "Share of published offers whose checklist is fully met",
        )
        complete.add_metric(
            [], sum(1 for c in published if (c or 0) >= 1.0) / len(published) if published else 0.0
        )
        yield complete
        active = GaugeMetricFamily(
            "copilot_partner_sandboxes_active", "Partner sandbox namespaces that exist now"
        )
        active.add_metric([], boxes.get("active", 0) + boxes.get("expired", 0))
        yield active
        by_status = GaugeMetricFamily(
            "copilot_partner_sandboxes", "Partner sandboxes by status", labels=["status"]
        )
        for status, n in sorted(boxes.items()):
            by_status.add_metric([status], n)
        yield by_status


def install(app: Any) -> None:
    """Register the collector on the app's registry."""
    app.metrics.register(PartnerCollector(app.engine))
