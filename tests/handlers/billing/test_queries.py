"""Per-resource answers read whole weeks from the weekly rollup and edge days from daily rows:
they must equal a direct computation on the file for periods in any alignment."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import duckdb
import pytest
from sqlalchemy.engine import Engine

from handlers.billing import queries
from handlers.billing.ingest import ingest_path
from handlers.billing.synth import generate
from storage import billing as repo

START, DAYS = date(2024, 1, 1), 70


def _direct(path: Path, lo: date, hi: date) -> dict[str, float]:
    rows = duckdb.execute(
        f"SELECT ResourceId, sum(BilledCost) FROM read_csv('{path}', nullstr = ['NULL', '']) "
        "WHERE CAST(ChargePeriodStart AS DATE) BETWEEN ? AND ? AND ResourceId IS NOT NULL "
        "GROUP BY ALL",
        [lo, hi],
    ).fetchall()
    return {k: float(v) for k, v in rows}


def test_full_weeks() -> None:
    assert repo.full_weeks(date(2024, 1, 1), date(2024, 1, 7)) == (date(2024, 1, 1),) * 2
    assert repo.full_weeks(date(2024, 1, 2), date(2024, 1, 14)) == (
        date(2024, 1, 8),
        date(2024, 1, 8),
    )
    assert repo.full_weeks(date(2024, 1, 2), date(2024, 1, 13)) is None


@pytest.mark.parametrize(("offset", "days"), [(0, 7), (3, 30), (9, 20), (40, 5), (35, 31)])
def test_resource_costs_match_the_file(
    engine: Engine, sample: Path, tmp_path: Path, offset: int, days: int
) -> None:
    path = generate(
        tmp_path / "f.csv", rows=40 * DAYS, resources=40, start=START, days=DAYS, sample=sample
    )
    ingest_path(engine, path)
    end = START + timedelta(days=offset + days - 1)
    period = queries.Period(end - timedelta(days=days - 1), end, f"{days}d")
    prev = period.previous()
    with engine.connect() as conn:
        rows = repo.ranked_costs(
            conn,
            start=period.start,
            end=period.end,
            prev_start=prev.start,
            prev_end=prev.end,
            by="resource",
            n=1000,
        )
    now = _direct(path, period.start, period.end)
    before = _direct(path, prev.start, prev.end)
    assert {r.key for r in rows} == set(now)
    for r in rows:
        assert r.cost == pytest.approx(now[r.key], abs=1e-6)
        assert r.previous == pytest.approx(before.get(r.key, 0.0), abs=1e-6)
