"""Learning-loop and guardrail figures read from the database at scrape time (/metrics)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy.engine import Engine
from sqlmodel import select

from handlers.compliance import stats
from storage.db import unit_of_work
from storage.models.compliance import GuardrailScan

log = logging.getLogger(__name__)
PERIOD_DAYS = 30


class LearningLoopCollector(Collector):
    """The /copilot stats figures over the last 30 days, and the last guardrail scan."""

    def __init__(self, engine: Engine, clock: Callable[[], datetime] | None = None) -> None:
        self.engine = engine
        self.clock = clock or (lambda: datetime.now(UTC))

    def describe(self) -> list[Any]:
        return []  # collected from the database on every scrape

    def collect(self) -> Iterator[Any]:
        try:
            with unit_of_work(self.engine) as s:
                st = stats.compute(s, end=self.clock(), days=PERIOD_DAYS)
                scan = s.exec(
                    select(GuardrailScan)
                    .where(GuardrailScan.scope == "")
                    .order_by(GuardrailScan.id.desc())  # type: ignore[union-attr]
                    .limit(1)
                ).first()
        except Exception:  # the database is reported by /readyz; metrics stay served
            log.warning("learning-loop metrics unavailable", exc_info=True)
            return
        m = stats.as_metrics(st)

        def gauge(name: str, doc: str, value: float) -> GaugeMetricFamily:
            g = GaugeMetricFamily(name, doc)
            g.add_metric([], float(value))
            return g

        yield gauge(
            "copilot_daily_active_operators",
            "Average distinct operators per day (30 days)",
            m["daily_active"],
        )
        yield gauge(
            "copilot_automation_success_ratio",
            "Runbook runs succeeded / attempted (30 days)",
            m["automation_ratio"],
        )
        yield gauge(
            "copilot_runbook_runs_attempted",
            "Runbook runs attempted (30 days)",
            m["runs_attempted"],
        )
        yield gauge(
            "copilot_approval_decision_median_seconds",
            "Median time from request to approval decision (30 days)",
            m["decision_median"],
        )
        yield gauge(
            "copilot_helpfulness_ratio",
            "Helpful votes / all votes on the bot's posts (30 days)",
            m["helpfulness_ratio"],
        )
        commands = GaugeMetricFamily(
            "copilot_commands_30d", "Commands and clicks by kind (30 days)", labels=["kind"]
        )
        for kind, n in sorted(m["commands"].items()):
            commands.add_metric([kind], n)
        yield commands
        savings = GaugeMetricFamily(
            "copilot_cost_savings_30d",
            "Impact of acknowledged billing anomalies (30 days)",
            labels=["currency"],
        )
        for cur, v in sorted(m["savings"].items()):
            savings.add_metric([cur], v)
        yield savings
        if scan is not None:
            yield gauge(
                "copilot_guardrail_compliant_ratio",
                "Share of workloads meeting every guardrail (last cluster-wide scan)",
                scan.compliant / scan.workloads if scan.workloads else 1.0,
            )
            yield gauge(
                "copilot_guardrail_findings",
                "Findings of the last cluster-wide scan",
                scan.findings,
            )


def install(app: Any) -> None:
    """Register the collector on the app's registry."""
    app.metrics.register(LearningLoopCollector(app.engine))
