"""Evaluation: known anomalies injected into realistic data built from the FOCUS sample."""

from __future__ import annotations

import random
from datetime import date, timedelta
from pathlib import Path

import duckdb
from sqlalchemy.engine import Engine

from handlers.billing import anomalies, forecast
from handlers.billing.ingest import ingest_path
from handlers.billing.synth import Injection, generate

START, DAYS, RESOURCES = date(2024, 1, 1), 150, 300


def _dataset(tmp: Path, sample: Path) -> tuple[Path, list[Injection], dict[int, set[str]]]:
    rng = random.Random(11)
    path = tmp / "focus.csv"
    generate(
        path, rows=RESOURCES * DAYS, resources=RESOURCES, start=START, days=DAYS, sample=sample
    )
    duck = duckdb.connect()
    picks = [
        (START + timedelta(days=rng.randrange(60, DAYS)), rng.randrange(RESOURCES))
        for _ in range(12)
    ]
    injections, dims = [], {}
    for day, res in picks:
        svc, proj, region, total = duck.execute(
            f"SELECT ServiceName, SubAccountId, RegionId, (SELECT sum(BilledCost) FROM '{path}' b "
            f"WHERE b.ServiceName = a.ServiceName AND CAST(b.ChargePeriodStart AS DATE) = ?) "
            f"FROM '{path}' a WHERE ResourceId LIKE ? LIMIT 1",
            [day, f"%#{res}"],
        ).fetchone()
        # A realistic incident: the resource adds 60% of its service's usual day (at least $300).
        injections.append(Injection(day, res, max(300.0, 0.6 * total)))
        dims[len(injections) - 1] = {svc, str(proj), region}
    generate(
        path,
        rows=RESOURCES * DAYS,
        resources=RESOURCES,
        start=START,
        days=DAYS,
        sample=sample,
        injections=injections,
    )
    return path, injections, dims


def test_anomaly_precision_recall_and_forecast_backtest(
    sqlite_engine: Engine, tmp_path: Path, sample: Path
) -> None:
    path, injections, _ = _dataset(tmp_path, sample)
    ingest_path(sqlite_engine, path)
    with sqlite_engine.connect() as conn:
        found = anomalies.detect(
            conn, start=START + timedelta(days=60), end=START + timedelta(days=DAYS - 1)
        )
        bt = forecast.backtest(conn)
    truth = {(x.day, f"#{x.resource}") for x in injections}
    hits = {
        (a.day, "#" + a.contributors[0][0].rsplit("#", 1)[1])
        for a in found
        if a.contributors and (a.day, "#" + a.contributors[0][0].rsplit("#", 1)[1]) in truth
    }
    precision = len(hits) / len(found) if found else 0.0
    recall = len(hits) / len(truth)
    print(
        f"\nanomalies: {len(truth)} injected, {len(found)} detected, "
        f"precision {precision:.2f}, recall {recall:.2f}"
    )
    print(
        f"forecast backtest at mid-month: MAPE {bt.mape:.2f}% over {len(bt.points)} months, "
        f"interval coverage {bt.coverage:.0%}"
    )
    assert recall >= 0.8 and precision >= 0.8
    assert bt.mape is not None and bt.mape < 5.0
