"""Per-resource rollups keyed by integer resource lines: the bulk-load path (indexes dropped and
rebuilt, PostgreSQL ANALYZE), replacement of a file's rows, names, and the data migration from
the text-keyed tables (revision 0203)."""

from __future__ import annotations

import csv
import os
import uuid
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

import duckdb
import psycopg
import pytest
from alembic import command
from sqlalchemy import func, select, text
from sqlalchemy.engine import Engine

from handlers.billing import queries
from handlers.billing.ingest import ingest_path
from handlers.billing.synth import generate
from storage import billing as repo
from storage.db import make_engine
from storage.migrate import alembic_config, upgrade
from tests.handlers.billing.conftest import write_rows

START, DAYS = date(2024, 1, 1), 200
RESOURCE_INDEXES = {
    "ix_billing_resource_day_resource",
    "ix_billing_resource_day_day",
    "ix_billing_resource_day_file_id",
}


def _direct(path: Path, lo: date, hi: date) -> dict[str, float]:
    rows = duckdb.execute(
        f"SELECT ResourceId, sum(BilledCost) FROM read_csv('{path}', nullstr = ['NULL', '']) "
        "WHERE CAST(ChargePeriodStart AS DATE) BETWEEN ? AND ? AND ResourceId IS NOT NULL "
        "GROUP BY ALL",
        [lo, hi],
    ).fetchall()
    return {k: float(v) for k, v in rows}


def _indexes(engine: Engine, table: str) -> set[str]:
    with engine.connect() as conn:
        if conn.dialect.name == "sqlite":
            sql = "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = :t"
        else:
            sql = "SELECT indexname FROM pg_indexes WHERE tablename = :t"
        return {r[0] for r in conn.execute(text(sql), {"t": table})}


def _ranked(engine: Engine, period: queries.Period) -> dict[str, tuple[float, float]]:
    prev = period.previous()
    with engine.connect() as conn:
        rows = repo.ranked_costs(
            conn,
            start=period.start,
            end=period.end,
            prev_start=prev.start,
            prev_end=prev.end,
            by="resource",
            n=10_000,
        )
    return {r.key: (r.cost, r.previous) for r in rows}


def test_bulk_load_rebuilds_indexes_and_matches_the_file(
    engine: Engine, sample: Path, tmp_path: Path
) -> None:
    # 300 resources × 200 days: more rows than the 50k bulk threshold, so the load drops the
    # per-resource indexes and rebuilds them once
    path = generate(
        tmp_path / "big.csv", rows=300 * DAYS, resources=300, start=START, days=DAYS, sample=sample
    )
    report = ingest_path(engine, path)
    assert report.ok and report.rows_read == 300 * DAYS
    assert _indexes(engine, "billing_resource_day") >= RESOURCE_INDEXES
    with engine.connect() as conn:
        days = conn.execute(select(func.count()).select_from(repo.RESOURCE)).scalar_one()
        lines = conn.execute(select(func.count()).select_from(repo.LINE)).scalar_one()
    assert (days, lines) == (300 * DAYS, 300)
    end = START + timedelta(days=150)
    period = queries.Period(end - timedelta(days=29), end, "30d")
    got = _ranked(engine, period)
    now, before = (
        _direct(path, period.start, period.end),
        _direct(path, period.previous().start, period.previous().end),
    )
    assert set(got) == set(now)
    for key, (cost, previous) in got.items():
        assert cost == pytest.approx(now[key], abs=1e-6)
        assert previous == pytest.approx(before.get(key, 0.0), abs=1e-6)
    # the day's top resources within one service equal a direct sum over the file
    with engine.connect() as conn:
        service = conn.execute(select(repo.LINE.c.service).limit(1)).scalar_one()
        top = repo.top_resources(
            conn, day=end, currency="USD", dimension="service", value=service, n=3
        )
    direct = duckdb.execute(
        f"SELECT ResourceId, sum(BilledCost) AS c FROM read_csv('{path}', nullstr = ['NULL', '']) "
        "WHERE CAST(ChargePeriodStart AS DATE) = ? AND ServiceName = ? GROUP BY 1 "
        "ORDER BY c DESC LIMIT 3",
        [end, service],
    ).fetchall()
    assert [k for k, _ in top] == [k for k, _ in direct]
    assert [c for _, c in top] == pytest.approx([float(c) for _, c in direct], abs=1e-6)


def test_new_content_replaces_resource_rows_and_names(
    engine: Engine, sample: Path, tmp_path: Path
) -> None:
    first = generate(
        tmp_path / "a.csv", rows=20 * 30, resources=20, start=START, days=30, sample=sample
    )
    ingest_path(engine, first)
    with engine.connect() as conn:
        before = conn.execute(select(func.count()).select_from(repo.RESOURCE)).scalar_one()
        rid = conn.execute(select(repo.LINE.c.resource_id).limit(1)).scalar_one()
    # the same export again, later, with one resource renamed: rows replaced, name updated
    renamed = tmp_path / "b" / "a.csv"
    renamed.parent.mkdir()
    with first.open(newline="") as fh:
        reader = csv.DictReader(fh)
        header, rows = list(reader.fieldnames or []), list(reader)
    header += [] if "ResourceName" in header else ["ResourceName"]
    for row in rows:
        row["ResourceName"] = "renamed-resource" if row["ResourceId"] == rid else ""
    write_rows(renamed, header, rows)
    ingest_path(engine, renamed, root=renamed.parent)
    ingest_path(engine, renamed, root=renamed.parent)  # same content: a no-op
    with engine.connect() as conn:
        after = conn.execute(select(func.count()).select_from(repo.RESOURCE)).scalar_one()
        names = repo.labels(conn, by="resource", keys=[rid])
    assert after == before
    assert names == {rid: "renamed-resource"}


@pytest.fixture(params=["sqlite", "postgres"])
def empty_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty, unmigrated database (the migration test drives the revisions itself)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'm.db'}"
        return
    server = os.environ.get("COPILOT_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")
    name = f"cc_test_mig_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(server, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    base = server.rsplit("/", 1)[0]
    yield f"{base}/{name}".replace("postgresql://", "postgresql+psycopg://", 1)
    with psycopg.connect(server, autocommit=True) as admin:
        admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (name,)
        )
        admin.execute(f'DROP DATABASE IF EXISTS "{name}"')


def test_migration_carries_text_keyed_rows_over(empty_url: str) -> None:
    engine = make_engine(empty_url)
    cfg = alembic_config(empty_url)
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0202_billing_cover")
        conn.execute(
            text(
                "INSERT INTO billing_file (id, name, content_hash, rows_read, rows_rejected, "
                "ingested_at) VALUES (1, 'f.csv', 'h', 4, 0, CURRENT_TIMESTAMP)"
            )
        )
        daily = [
            ("2024-01-08", "i-1", "web", "svc", "p1", 10.0),
            ("2024-01-09", "i-1", "web", "svc", "p2", 5.0),  # moved project: two lines
            ("2024-01-09", "i-2", "", "svc", "p1", 7.0),
            ("2024-01-16", "i-2", "db", "svc", "p1", 1.0),
        ]
        for day, rid, name, svc, proj, cost in daily:
            conn.execute(
                text(
                    "INSERT INTO billing_resource_daily (file_id, day, currency, resource_id, "
                    "resource_name, service, project, region, billed_cost, effective_cost) "
                    "VALUES (1, :d, 'USD', :r, :n, :s, :p, 'eu', :c, :c)"
                ),
                {"d": date.fromisoformat(day), "r": rid, "n": name, "s": svc, "p": proj, "c": cost},
            )
        for week, rid, name, cost in [
            ("2024-01-08", "i-1", "web", 15.0),
            ("2024-01-08", "i-2", "", 7.0),
        ]:
            conn.execute(
                text(
                    "INSERT INTO billing_resource_weekly (file_id, week, currency, resource_id, "
                    "resource_name, billed_cost, effective_cost) "
                    "VALUES (1, :w, 'USD', :r, :n, :c, :c)"
                ),
                {"w": date.fromisoformat(week), "r": rid, "n": name, "c": cost},
            )
    upgrade(engine)
    try:
        whole = queries.Period(date(2024, 1, 8), date(2024, 1, 14), "7d")  # one whole week
        split = queries.Period(date(2024, 1, 9), date(2024, 1, 16), "8d")  # edge days only
        assert _ranked(engine, whole) == {"i-1": (15.0, 0.0), "i-2": (7.0, 0.0)}
        assert _ranked(engine, split) == {"i-1": (5.0, 10.0), "i-2": (8.0, 0.0)}
        with engine.connect() as conn:
            assert repo.labels(conn, by="resource", keys=["i-1", "i-2"]) == {
                "i-1": "web",
                "i-2": "db",
            }
            top = repo.top_resources(
                conn, day=date(2024, 1, 9), currency="USD", dimension="project", value="p1"
            )
        assert top == [("i-2", 7.0)]
    finally:
        engine.dispose()
