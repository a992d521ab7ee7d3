from __future__ import annotations

import base64
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine

from bot.messages import Actions
from handlers.billing import anomalies
from handlers.billing.commands import (
    CostParams,
    anomaly_scan_job,
    feedback,
    format_ingest_report,
    freshness_answer,
    freshness_check,
    ingest_cli,
    summary_answer,
    top_answer,
)
from handlers.billing.ingest import ingest_path
from handlers.billing.options import BillingOptions
from handlers.billing.queries import QueryError
from storage.db import unit_of_work
from tests.handlers.billing.conftest import direct_sum, sample_rows, t, write_rows

NOW = datetime(2024, 10, 1, 3, 0, tzinfo=UTC)


def test_top_by_service_matches_direct_computation(engine: Engine, sample: Path) -> None:
    ingest_path(engine, sample)
    expected = sorted(direct_sum(sample, "ServiceName").items(), key=lambda kv: -kv[1])
    with unit_of_work(engine) as s:
        msg = top_answer(s, CostParams(now=NOW, by="service", n=5), t, "en")
    largest = msg.blocks[1].text  # type: ignore[union-attr]
    for i, (name, cost) in enumerate(expected[:5], 1):
        assert f"{i}. {name}: ${cost:,.2f}" in largest, largest
    print("\n" + largest)


def test_summary_has_totals_deltas_and_a_chart(engine: Engine, sample: Path) -> None:
    ingest_path(engine, sample)
    with unit_of_work(engine) as s:
        msg = summary_answer(s, CostParams(now=NOW, period="mtd", by="tag:environment"), t, "ru")
    text = str(msg.blocks)
    assert "USD" in text and "dev" in text and "(new)" in text
    png = base64.b64decode(msg.attachments[0].content_b64)
    assert png.startswith(b"\x89PNG")


def test_bad_period_is_a_usage_error(engine: Engine) -> None:
    with unit_of_work(engine) as s, pytest.raises(QueryError):
        summary_answer(s, CostParams(now=NOW, period="fortnight"), t, "en")


def test_freshness_and_stale_alert(engine: Engine, sample: Path) -> None:
    with unit_of_work(engine) as s:
        assert "No billing data" in freshness_answer(s, CostParams(now=NOW), t, "en").text
    ingest_path(engine, sample)
    assert freshness_check(engine, None, now=datetime(2024, 10, 1, 2, tzinfo=UTC), t=t) is None
    alert = freshness_check(engine, None, now=NOW + __import__("datetime").timedelta(hours=7), t=t)
    assert alert is not None and "stale" in alert.text


def test_ingest_cli_resolves_names_under_the_source(engine: Engine, sample: Path) -> None:
    class S:
        billing_source = str(sample.parent)

    report = ingest_cli(engine, sample.name, S())
    assert report.rows_read == 949
    assert "rows read: 949" in format_ingest_report(report)
    with pytest.raises(ValueError):
        ingest_cli(engine, "../../conftest.py", S())


def test_injected_anomaly_in_the_sample_alerts_once_with_buttons(
    engine: Engine, tmp_path: Path
) -> None:
    header, rows = sample_rows()
    spike = dict(rows[0])  # an EC2-style row, made 20x the service's usual day
    spike.update(
        ServiceName="Amazon Elastic Compute Cloud",
        ChargePeriodStart="2024-09-27 10:00:00",
        ChargePeriodEnd="2024-09-27 11:00:00",
        BilledCost="25.0",
        ResourceId="i-injected",
    )
    ingest_path(engine, write_rows(tmp_path / "x.csv", header, [*rows, spike]))
    opts = BillingOptions(anomaly_min_impact=5.0)
    with unit_of_work(engine) as s:
        first = anomalies.scan_new_anomalies(s, NOW, opts)
    with unit_of_work(engine) as s:
        again = anomalies.scan_new_anomalies(s, NOW, opts)
    assert [(a.day.isoformat(), a.contributors[0][0]) for a in first] == [
        ("2024-09-27", "i-injected")
    ]
    assert again == []
    alerts = anomaly_scan_job(engine, None, now=NOW, t=t)
    assert alerts == []  # already reported
    from handlers.billing.render import anomaly_alert

    msg = anomaly_alert(first[0], t, "en")
    (actions,) = [b for b in msg.blocks if isinstance(b, Actions)]
    assert [(b.action_id, b.value) for b in actions.buttons] == [
        ("cost:ack", str(first[0].id)),
        ("cost:dismiss", str(first[0].id)),
    ]
    with unit_of_work(engine) as s:
        done = feedback(s, value=str(first[0].id), status="dismissed", actor="U1", t=t, locale="en")
        twice = feedback(
            s, value=str(first[0].id), status="acknowledged", actor="U2", t=t, locale="en"
        )
        tuned = anomalies.thresholds(s, opts)
    assert "raised" in done.text and "Already" in twice.text
    assert tuned[(first[0].dimension, first[0].value)] == pytest.approx(opts.anomaly_k * 1.5)
