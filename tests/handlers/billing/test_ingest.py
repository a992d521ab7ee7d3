from __future__ import annotations

import gzip
import shutil
from datetime import UTC, date, datetime
from pathlib import Path

import duckdb
import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import Engine

from handlers.billing.ingest import ingest_path, resolve_under
from storage import billing as repo
from tests.handlers.billing.conftest import direct_sum, sample_rows, write_rows

SEPT = (date(2024, 9, 1), date(2024, 9, 30))


def mart_state(engine: Engine) -> tuple[int, int, int, float]:
    with engine.connect() as conn:
        counts = [
            conn.execute(select(func.count()).select_from(table)).scalar_one()
            for table in (repo.COST, repo.TAG, repo.RESOURCE)
        ]
        total = conn.execute(select(func.sum(repo.COST.c.billed_cost))).scalar_one() or 0.0
    return counts[0], counts[1], counts[2], round(float(total), 9)


def by_service(engine: Engine) -> dict[str, float]:
    with engine.connect() as conn:
        costs = repo.grouped_costs(conn, start=SEPT[0], end=SEPT[1], by="service")
    return {k: v for (k, _cur), v in costs.items()}


def test_sample_ingests_and_matches_direct_sum(engine: Engine, sample: Path) -> None:
    report = ingest_path(engine, sample)
    assert (report.rows_read, report.rows_rejected) == (949, 0)
    assert report.period_start == datetime(2024, 9, 1, tzinfo=UTC)
    assert report.period_end == datetime(2024, 10, 1, tzinfo=UTC)
    assert [f.status for f in report.files] == ["ingested"]
    expected = direct_sum(sample, "ServiceName")
    got = by_service(engine)
    assert got.keys() == expected.keys()
    for key, value in expected.items():
        assert got[key] == pytest.approx(value, rel=1e-9, abs=1e-12)


def test_oracle_region_falls_back_to_region_name(engine: Engine, sample: Path) -> None:
    ingest_path(engine, sample)
    with engine.connect() as conn:
        regions = repo.grouped_costs(conn, start=SEPT[0], end=SEPT[1], by="region")
        tags = repo.grouped_costs(conn, start=SEPT[0], end=SEPT[1], by="tag:environment")
    assert ("us-sanjose-1", "USD") in regions
    assert {k for k, _ in tags} >= {"dev", "prod", ""}


def test_reingest_same_content_changes_nothing(
    engine: Engine, sample: Path, tmp_path: Path
) -> None:
    ingest_path(engine, sample)
    before = mart_state(engine)
    copy = shutil.copy(sample, tmp_path / "renamed.csv")
    again = ingest_path(engine, sample)
    dup = ingest_path(engine, Path(copy))
    assert [f.status for f in again.files + dup.files] == ["unchanged", "unchanged"]
    assert mart_state(engine) == before


def test_new_content_replaces_the_files_previous_rows(engine: Engine, tmp_path: Path) -> None:
    header, rows = sample_rows()
    path = write_rows(tmp_path / "export.csv", header, rows)
    ingest_path(engine, path)
    write_rows(path, header, rows[:100])
    report = ingest_path(engine, path)
    assert report.files[0].status == "ingested" and report.rows_read == 100
    expected = sum(float(r["BilledCost"]) for r in rows[:100])
    assert mart_state(engine)[3] == pytest.approx(expected, abs=1e-9)


@pytest.mark.parametrize(
    ("mutate", "line", "column", "reason"),
    [
        (lambda r: r[2].update(BilledCost="abc"), 4, "BilledCost", "Could not convert"),
        (lambda r: r[4].update(ChargePeriodStart="5/1/25"), 6, "ChargePeriodStart", "ISO 8601"),
    ],
)
def test_corrupt_file_is_rejected_with_line_and_column(
    engine: Engine,
    tmp_path: Path,
    sample: Path,
    mutate: object,
    line: int,
    column: str,
    reason: str,
) -> None:
    ingest_path(engine, sample)
    before = mart_state(engine)
    header, rows = sample_rows()
    mutate(rows)  # type: ignore[operator]
    report = ingest_path(engine, write_rows(tmp_path / "bad.csv", header, rows))
    (result,) = report.files
    assert result.status == "rejected"
    assert f"line {line}" in result.error and column in result.error and reason in result.error
    assert mart_state(engine) == before


def test_truncated_file_is_rejected(engine: Engine, tmp_path: Path, sample: Path) -> None:
    data = sample.read_bytes()
    cut = tmp_path / "partial.csv"
    cut.write_bytes(data[: len(data) // 2])
    report = ingest_path(engine, cut)
    assert report.files[0].status == "rejected" and "line" in report.files[0].error
    assert mart_state(engine) == (0, 0, 0, 0.0)


def test_missing_required_column_is_named(engine: Engine, tmp_path: Path) -> None:
    header, rows = sample_rows()
    header.remove("BillingCurrency")
    for row in rows:
        row.pop("BillingCurrency")
    report = ingest_path(engine, write_rows(tmp_path / "x.csv", header, rows))
    assert "BillingCurrency" in report.files[0].error


def test_rows_missing_required_values_are_counted(engine: Engine, tmp_path: Path) -> None:
    header, rows = sample_rows()
    rows[0]["BilledCost"] = "NULL"
    rows[1]["ChargePeriodStart"] = ""
    report = ingest_path(engine, write_rows(tmp_path / "x.csv", header, rows))
    assert (report.rows_read, report.rows_rejected) == (949, 2)


def test_currencies_are_kept_apart(engine: Engine, tmp_path: Path) -> None:
    header, rows = sample_rows()
    for row in rows[:10]:
        row["BillingCurrency"] = "RUB"
    ingest_path(engine, write_rows(tmp_path / "x.csv", header, rows))
    with engine.connect() as conn:
        totals = repo.grouped_costs(conn, start=SEPT[0], end=SEPT[1], by="total")
    assert set(totals) == {("", "USD"), ("", "RUB")}
    assert totals[("", "RUB")] == pytest.approx(sum(float(r["BilledCost"]) for r in rows[:10]))


def test_gzip_and_parquet_give_the_same_totals(
    engine: Engine, tmp_path: Path, sample: Path
) -> None:
    folder = tmp_path / "src"
    folder.mkdir()
    with gzip.open(folder / "a.csv.gz", "wb") as fh:
        fh.write(sample.read_bytes().replace(b"2024-09", b"2024-08"))
    duck = duckdb.connect()
    duck.execute(
        f"COPY (SELECT * FROM read_csv('{sample}', nullstr=['NULL',''])) "
        f"TO '{folder / 'b.parquet'}' (FORMAT parquet)"
    )
    report = ingest_path(engine, folder)
    assert [f.status for f in report.files] == ["ingested", "ingested"]
    assert report.rows_read == 2 * 949
    with engine.connect() as conn:
        aug = repo.grouped_costs(conn, start=date(2024, 8, 1), end=date(2024, 8, 31), by="total")
        sep = repo.grouped_costs(conn, start=SEPT[0], end=SEPT[1], by="total")
    assert aug[("", "USD")] == pytest.approx(sep[("", "USD")], rel=1e-9)


def test_resolve_under_refuses_traversal(tmp_path: Path) -> None:
    (tmp_path / "ok.csv").write_text("x")
    assert resolve_under(tmp_path, "ok.csv") == (tmp_path / "ok.csv").resolve()
    for name in ("../etc/passwd", "/etc/passwd", "a/../../x"):
        with pytest.raises(ValueError):
            resolve_under(tmp_path, name)
