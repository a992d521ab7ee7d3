"""Billing bench: ingest throughput and peak memory vs plain DuckDB, /cost latency, scan time.

python bench/billing.py [--rows 10000000] [--resources 10000] [--days 365] [--repeat 20]
                        [--pg URL | --no-pg] [--parquet]

Every ingest (console-copilot into SQLite, into PostgreSQL, and the plain-DuckDB baseline) runs
in its own child process, so its peak memory is the child's `ru_maxrss` (DuckDB's native
allocations included, which tracemalloc cannot see). The PostgreSQL mart is a throw-away
database created on the server at `--pg` (default: $COPILOT_TEST_PG or the local test server).
"""

# ruff: noqa: E501
from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

SAMPLE = Path(__file__).parents[1] / "tests/contracts/focus/focus_sample_1000.aws_oracle.csv"
PG_SERVER = os.environ.get("COPILOT_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")


def _maxrss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


# -- child processes ----------------------------------------------------------------------
def child_ingest(url: str, path: str) -> dict[str, Any]:
    """console-copilot: the file into a migrated mart; then the same file again (a no-op)."""
    from handlers.billing.ingest import ingest_path
    from storage.db import make_engine
    from storage.migrate import upgrade

    engine = make_engine(url)
    upgrade(engine)
    before = _maxrss_mib()
    t0 = time.perf_counter()
    report = ingest_path(engine, Path(path))
    took = time.perf_counter() - t0
    t0 = time.perf_counter()
    again = ingest_path(engine, Path(path))
    took_again = time.perf_counter() - t0
    engine.dispose()
    return {
        "seconds": took,
        "rows": report.rows_read,
        "status": [f.status for f in report.files],
        "again_status": [f.status for f in again.files],
        "again_seconds": took_again,
        "rss_before_mib": before,
        "peak_rss_mib": _maxrss_mib(),
    }


def child_baseline(path: str) -> dict[str, Any]:
    """Plain DuckDB: the same read-and-group (day × service × project × region × category)."""
    before = _maxrss_mib()
    t0 = time.perf_counter()
    duck = duckdb.connect(config={"threads": 2, "memory_limit": "4GB"})
    rows = duck.execute(
        f"SELECT CAST(ChargePeriodStart AS DATE), BillingCurrency, ServiceName, SubAccountId, "
        f"RegionId, ChargeCategory, sum(BilledCost), count(*) FROM read_csv('{path}', nullstr=['NULL','']) "
        f"GROUP BY ALL"
    ).fetchall()
    duck.close()
    took = time.perf_counter() - t0
    return {
        "seconds": took,
        "rows": sum(r[-1] for r in rows),
        "rss_before_mib": before,
        "peak_rss_mib": _maxrss_mib(),
    }


def child_generate(path: str, rows: int, resources: int, days: int, start: str) -> dict[str, Any]:
    from handlers.billing.synth import generate

    t0 = time.perf_counter()
    generate(
        Path(path),
        rows=rows,
        resources=resources,
        start=date.fromisoformat(start),
        days=days,
        sample=SAMPLE,
    )
    return {"seconds": time.perf_counter() - t0, "peak_rss_mib": _maxrss_mib()}


def run_child(kind: str, *args: object) -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, __file__, "--child", kind, *map(str, args)],
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


# -- PostgreSQL scratch database ----------------------------------------------------------
class PgDatabase:
    """A throw-away database on the server at `server` (dropped on exit)."""

    def __init__(self, server: str) -> None:
        self.server = server
        self.name = f"cc_bench_billing_{uuid.uuid4().hex[:8]}"

    def __enter__(self) -> str:
        import psycopg

        with psycopg.connect(self.server, autocommit=True, connect_timeout=5) as admin:
            admin.execute(f'CREATE DATABASE "{self.name}"')
        base = self.server.rsplit("/", 1)[0]
        return f"{base}/{self.name}".replace("postgresql://", "postgresql+psycopg://", 1)

    def __exit__(self, *exc: object) -> None:
        import psycopg

        with psycopg.connect(self.server, autocommit=True) as admin:
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s",
                (self.name,),
            )
            admin.execute(f'DROP DATABASE IF EXISTS "{self.name}"')


# -- report -------------------------------------------------------------------------------
def ingest_table(label: str, path: Path, runs: dict[str, dict[str, Any]]) -> None:
    rows = next(iter(runs.values()))["rows"]
    print(f"\n== ingest {label}: {rows:,} rows, {path.stat().st_size / 2**20:,.0f} MiB")
    names = list(runs)
    print(f"{'':26}" + "".join(f"{n:>20}" for n in names))
    print(f"{'time (s)':26}" + "".join(f"{runs[n]['seconds']:>20.2f}" for n in names))
    print(
        f"{'throughput (rows/s)':26}"
        + "".join(f"{runs[n]['rows'] / runs[n]['seconds']:>20,.0f}" for n in names)
    )
    print(
        f"{'peak RSS (MiB, process)':26}"
        + "".join(f"{runs[n]['peak_rss_mib']:>20,.0f}" for n in names)
    )
    again = {n: r for n, r in runs.items() if "again_seconds" in r}
    if again:
        print(
            f"{'same file again (s)':26}"
            + "".join(
                f"{again[n]['again_seconds']:>20.2f}" if n in again else f"{'':>20}" for n in names
            )
        )
    for n, r in again.items():
        assert r["status"] == ["ingested"] and r["again_status"] == ["unchanged"], (n, r)


def _p(times: list[float]) -> tuple[float, float]:
    times = sorted(times)
    return statistics.median(times), times[min(len(times) - 1, round(len(times) * 0.95) - 1)]


def duck_answers(parquet: Path, start: date, end: date) -> dict[str, str]:
    """Plain DuckDB answering the same questions straight from the export (as Parquet)."""
    src = f"read_parquet('{parquet}')"
    prev = start - timedelta(days=(end - start).days + 1)
    where = f"CAST(ChargePeriodStart AS DATE) BETWEEN DATE '{prev}' AND DATE '{end}'"
    split = f"sum(BilledCost) FILTER (WHERE CAST(ChargePeriodStart AS DATE) >= DATE '{start}')"
    old = f"sum(BilledCost) FILTER (WHERE CAST(ChargePeriodStart AS DATE) < DATE '{start}')"

    def grouped(key: str, n: int = 10) -> str:
        return (
            f"SELECT {key} AS k, {split} AS c, {old} AS p FROM {src} WHERE {where} "
            f"GROUP BY 1 ORDER BY c DESC LIMIT {n}"
        )

    return {
        "summary --by service": grouped("ServiceName"),
        "summary --by tag:env": grouped("json_extract_string(Tags, '$.env')"),
        "top --by project": grouped("SubAccountId"),
        "top --by resource": grouped("ResourceId"),
        "summary --by resource": grouped("ResourceId"),
        "forecast": (
            f"SELECT CAST(ChargePeriodStart AS DATE), sum(BilledCost) FROM {src} "
            f"WHERE CAST(ChargePeriodStart AS DATE) >= DATE '{end - timedelta(days=56)}' GROUP BY 1"
        ),
    }


def cases(now: datetime) -> dict[str, Callable[[Any], object]]:
    from handlers.billing.commands import CostParams, forecast_answer, summary_answer, top_answer

    t = lambda m, **kw: m.format(**kw)  # noqa: E731
    return {
        "summary --by service": lambda s: summary_answer(
            s, CostParams(now=now, by="service"), t, "en"
        ),
        "summary --by tag:env": lambda s: summary_answer(
            s, CostParams(now=now, by="tag:env"), t, "en"
        ),
        "top --by project": lambda s: top_answer(s, CostParams(now=now, by="project"), t, "en"),
        "top --by resource": lambda s: top_answer(s, CostParams(now=now, by="resource"), t, "en"),
        "summary --by resource": lambda s: summary_answer(
            s, CostParams(now=now, by="resource"), t, "en"
        ),
        "top --by resource 90d": lambda s: top_answer(
            s, CostParams(now=now, by="resource", period="90d"), t, "en"
        ),
        "forecast": lambda s: forecast_answer(s, CostParams(now=now), t, "en"),
    }


def latencies(urls: dict[str, str], repeat: int, parquet: Path | None) -> None:
    from handlers.billing import anomalies
    from storage import billing as repo
    from storage.db import make_engine, unit_of_work

    engines = {n: make_engine(u) for n, u in urls.items()}
    first = next(iter(engines.values()))
    with unit_of_work(first) as s:
        _lo, last = repo.day_bounds(s)
    assert last is not None
    now = datetime.combine(last, datetime.min.time(), UTC)
    duck = duckdb.connect(config={"threads": 2, "memory_limit": "2GB"}) if parquet else None
    sqls = duck_answers(parquet, last - timedelta(days=29), last) if parquet else {}
    head = "".join(f"{n + ' p50':>16}{n + ' p95':>16}" for n in engines)
    if duck:
        head += f"{'DuckDB p50':>12}{'DuckDB p95':>12}"
    print(f"\n== /cost latency, ms ({repeat} runs each after one warm-up; charts rendered)")
    print(f"{'query':24}{head}")
    for name, fn in cases(now).items():
        line = f"{name:24}"
        for engine in engines.values():
            times = []
            for i in range(repeat + 1):
                with unit_of_work(engine) as s:
                    t0 = time.perf_counter()
                    fn(s)
                    if i:
                        times.append((time.perf_counter() - t0) * 1000)
            p50, p95 = _p(times)
            line += f"{p50:>16.1f}{p95:>16.1f}"
        if duck and name in sqls:
            base = []
            for _ in range(repeat):
                t0 = time.perf_counter()
                duck.execute(sqls[name]).fetchall()
                base.append((time.perf_counter() - t0) * 1000)
            b50, b95 = _p(base)
            line += f"{b50:>12.1f}{b95:>12.1f}"
        print(line, flush=True)
    if duck:
        duck.close()
    print("\n== anomaly scan (7 days, service/project/region)")
    for n, engine in engines.items():
        with unit_of_work(engine) as s:
            t0 = time.perf_counter()
            found = anomalies.scan_new_anomalies(s, now)
            took = time.perf_counter() - t0
        print(f"{n:12}{took:8.2f} s, {len(found)} new")
        engine.dispose()


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        kind, args = sys.argv[2], sys.argv[3:]
        fn = {"ingest": child_ingest, "baseline": child_baseline, "generate": child_generate}[kind]
        typed = [int(a) if a.isdigit() else a for a in args]
        print(json.dumps(fn(*typed)))  # type: ignore[operator]
        return
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=10_000_000)
    ap.add_argument("--resources", type=int, default=10_000)
    ap.add_argument("--days", type=int, default=365)
    ap.add_argument("--repeat", type=int, default=20)
    ap.add_argument("--pg", default=PG_SERVER, help="PostgreSQL server for a scratch database")
    ap.add_argument("--no-pg", action="store_true", help="SQLite mart only")
    ap.add_argument("--parquet", action="store_true", help="also time plain DuckDB on Parquet")
    a = ap.parse_args()
    print(f"load average at start: {os.getloadavg()[0]:.1f} ({os.cpu_count()} cores)")
    with tempfile.TemporaryDirectory(prefix="billing-bench-") as tmp:
        sample_url = f"sqlite:///{tmp}/sample.db"
        ingest_table(
            "FOCUS sample",
            SAMPLE,
            {
                "SQLite": run_child("ingest", sample_url, SAMPLE),
                "plain DuckDB": run_child("baseline", SAMPLE),
            },
        )
        path = Path(tmp) / "focus.csv"
        start = date.today() - timedelta(days=a.days)
        gen = run_child("generate", path, a.rows, a.resources, a.days, start.isoformat())
        print(f"\n(generated {a.rows:,} rows in {gen['seconds']:.1f} s)", flush=True)
        urls = {"SQLite": f"sqlite:///{tmp}/bench.db"}
        pg = None if a.no_pg else PgDatabase(a.pg)
        try:
            if pg:
                urls["PostgreSQL"] = pg.__enter__()
            runs = {n: run_child("ingest", u, path) for n, u in urls.items()}
            runs["plain DuckDB"] = run_child("baseline", path)
            ingest_table("generated", path, runs)
            parquet = None
            if a.parquet:
                parquet = path.with_suffix(".parquet")
                duckdb.connect().execute(
                    f"COPY (SELECT * FROM read_csv('{path}', nullstr=['NULL',''])) TO '{parquet}' (FORMAT parquet)"
                )
            latencies(urls, a.repeat, parquet)
        finally:
            if pg:
                pg.__exit__()
        print(f"\nload average at end: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
