"""Stats computed from a seeded history, checked against hand-computed values."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy.engine import Engine

from handlers.compliance import stats
from storage.db import unit_of_work
from tests.handlers.compliance.seed import NOW, seed_history


def t(s: str, **kw: object) -> str:
    return s.format(**kw)


def test_figures_match_the_hand_computed_values(engine: Engine) -> None:
    seed_history(engine)
    with unit_of_work(engine) as s:
        st = stats.compute(s, end=NOW, days=7)
    assert st.days == 7
    assert st.daily_active[date(2026, 11, 27)] == 2
    assert st.daily_active[date(2026, 11, 28)] == 1
    assert sum(st.daily_active.values()) == 3
    assert st.avg_daily_active == pytest.approx(3 / 7)
    assert st.commands == {"/compliance": 2, "/incident": 1, "/cost": 1, "button feedback": 1}
    assert st.incidents == 4 and st.incidents_summarized == 3
    assert st.summarized_pct == pytest.approx(75.0)
    assert st.mttr_by_week == {date(2026, 11, 23): pytest.approx(1200.0)}
    assert (st.runs_attempted, st.runs_succeeded) == (3, 2)
    assert st.automation_rate == pytest.approx(200 / 3)
    assert st.median_decision == pytest.approx(90.0)
    assert st.savings == {"EUR": pytest.approx(200.0)}
    assert (st.feedback_up, st.feedback_down) == (3, 1)
    assert st.helpfulness == pytest.approx(75.0)
    assert st.onboarding_days is None or isinstance(st.onboarding_days, list)
    labels = dict(stats.figures(st, t))
    assert labels["Automation success"] == "67% (2/3)"
    assert labels["Approval time to decision (median)"] == "90 s"
    assert labels["Cost savings (acknowledged anomalies)"] == "200.00 EUR"
    png = stats.chart_png(st, t)
    assert png.startswith(b"\x89PNG")


def test_longer_period_includes_the_older_week(engine: Engine) -> None:
    seed_history(engine)
    with unit_of_work(engine) as s:
        st = stats.compute(s, end=NOW, days=30)
    assert st.mttr_by_week == {
        date(2026, 11, 16): pytest.approx(3600.0),
        date(2026, 11, 23): pytest.approx(1200.0),
    }
    assert st.commands["/cost"] == 2  # carol, 10 days ago
    assert st.savings == {"EUR": pytest.approx(1199.0)}


def test_period_parsing() -> None:
    assert stats.parse_period(None) == 30
    assert stats.parse_period("7d") == 7
    assert stats.parse_period("2w") == 14
    for bad in ("0d", "400d", "x"):
        with pytest.raises(ValueError):
            stats.parse_period(bad)


def test_metrics_collector_exposes_the_same_figures(engine: Engine) -> None:
    from prometheus_client import CollectorRegistry, generate_latest

    from handlers.compliance.metrics import LearningLoopCollector

    seed_history(engine)
    registry = CollectorRegistry()
    registry.register(LearningLoopCollector(engine, clock=lambda: NOW))
    text = generate_latest(registry).decode()
    assert "copilot_automation_success_ratio 0.6666" in text
    assert 'copilot_cost_savings_30d{currency="EUR"} 1199.0' in text
    assert "copilot_helpfulness_ratio 0.75" in text
    assert "copilot_approval_decision_median_seconds 90.0" in text
    assert 'copilot_commands_30d{kind="/cost"} 2.0' in text
