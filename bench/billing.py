"""Billing bench: ingest throughput and peak memory vs plain DuckDB, /cost latency, scan time.

python bench/billing.py [--rows 10000000] [--resources 10000] [--days 365] [--db URL]
"""

# ruff: noqa: E501
from __future__ import annotations

import argparse
import os
import resource
import statistics
import sys
import tempfile
import threading
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import duckdb

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from handlers.billing import anomalies
from handlers.billing.commands import CostParams, forecast_answer, summary_answer, top_answer
from handlers.billing.ingest import ingest_path
from handlers.billing.synth import generate
from storage.db import make_engine, unit_of_work
from storage.migrate import upgrade

SAMPLE = Path(__file__).parents[1] / "tests/contracts/focus/focus_sample_1000.aws_oracle.csv"


class PeakRss:
    """Sample this process's RSS every 50 ms; report the peak above the starting point."""

    @staticmethod
    def rss() -> int:
        with open("/proc/self/statm") as fh:
            return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")

    def __enter__(self) -> PeakRss:
        self.start = self.rss()
        self.peak = self.start
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()
        return self

    def _run(self) -> None:
        while not self.stop.wait(0.05):
            self.peak = max(self.peak, self.rss())

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join()

    @property
    def mib(self) -> float:
        return (self.peak - self.start) / 2**20


def baseline(path: Path) -> tuple[float, float]:
    """Plain DuckDB: the same read-and-group (day × service × project × region × category)."""
    with PeakRss() as mem:
        t0 = time.perf_counter()
        duck = duckdb.connect(config={"threads": 2, "memory_limit": "2GB"})
        duck.execute(
            f"SELECT CAST(ChargePeriodStart AS DATE), BillingCurrency, ServiceName, SubAccountId, "
            f"RegionId, ChargeCategory, sum(BilledCost) FROM read_csv('{path}', nullstr=['NULL','']) "
            f"GROUP BY ALL"
        ).fetchall()
        duck.close()
        took = time.perf_counter() - t0
    return took, mem.mib


def run_ingest(url: str, path: Path, label: str) -> None:
    engine = make_engine(url)
    upgrade(engine)
    with PeakRss() as mem:
        t0 = time.perf_counter()
        report = ingest_path(engine, path)
        took = time.perf_counter() - t0
    base, base_mem = baseline(path)
    rows = report.rows_read
    print(f"\n== ingest {label}: {rows:,} rows, {path.stat().st_size / 2**20:,.0f} MiB")
    print(f"{'':24}{'console-copilot':>18}{'plain DuckDB':>16}")
    print(f"{'time (s)':24}{took:>18.2f}{base:>16.2f}")
    print(f"{'throughput (rows/s)':24}{rows / took:>18,.0f}{rows / base:>16,.0f}")
    print(f"{'peak RSS growth (MiB)':24}{mem.mib:>18,.0f}{base_mem:>16,.0f}")
    engine.dispose()


def _p(times: list[float]) -> tuple[float, float]:
    times = sorted(times)
    return statistics.median(times), times[min(len(times) - 1, int(len(times) * 0.95))]


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
        "forecast": (
            f"SELECT CAST(ChargePeriodStart AS DATE), sum(BilledCost) FROM {src} "
            f"WHERE CAST(ChargePeriodStart AS DATE) >= DATE '{end - timedelta(days=56)}' GROUP BY 1"
        ),
    }


def latencies(url: str, repeat: int, csv_path: Path) -> None:
    engine = make_engine(url)
    with unit_of_work(engine) as s:
        _first, last = __import__("storage.billing", fromlist=["x"]).day_bounds(s)
    assert last is not None
    now = datetime.combine(last, datetime.min.time(), UTC)
    t = lambda m, **kw: m.format(**kw)  # noqa: E731
    cases = {
        "summary --by service": lambda s: summary_answer(
            s, CostParams(now=now, by="service"), t, "en"
        ),
        "summary --by tag:env": lambda s: summary_answer(
            s, CostParams(now=now, by="tag:env"), t, "en"
        ),
        "top --by project": lambda s: top_answer(s, CostParams(now=now, by="project"), t, "en"),
        "top --by resource": lambda s: top_answer(s, CostParams(now=now, by="resource"), t, "en"),
        "forecast": lambda s: forecast_answer(s, CostParams(now=now), t, "en"),
    }
    parquet = csv_path.with_suffix(".parquet")
    duck = duckdb.connect(config={"threads": 2, "memory_limit": "2GB"})
    duck.execute(
        f"COPY (SELECT * FROM read_csv('{csv_path}', nullstr=['NULL',''])) TO '{parquet}' (FORMAT parquet)"
    )
    sqls = duck_answers(parquet, last - timedelta(days=29), last)
    print(
        f"\n== /cost latency on the mart ({repeat} runs each; charts rendered) vs plain DuckDB on Parquet"
    )
    print(f"{'query':24}{'p50 ms':>10}{'p95 ms':>10}{'DuckDB p50':>12}{'DuckDB p95':>12}")
    for name, fn in cases.items():
        times, base = [], []
        for _ in range(repeat):
            with unit_of_work(engine) as s:
                t0 = time.perf_counter()
                fn(s)
                times.append((time.perf_counter() - t0) * 1000)
            t0 = time.perf_counter()
            duck.execute(sqls[name]).fetchall()
            base.append((time.perf_counter() - t0) * 1000)
        p50, p95 = _p(times)
        b50, b95 = _p(base)
        print(f"{name:24}{p50:>10.1f}{p95:>10.1f}{b50:>12.1f}{b95:>12.1f}")
    duck.close()
    with unit_of_work(engine) as s:
        t0 = time.perf_counter()
        found = anomalies.scan_new_anomalies(s, now)
        took = time.perf_counter() - t0
    print(f"\n== anomaly scan (7 days, service/project/region): {took:.2f} s, {len(found)} new")
    engine.dispose()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=10_000_000)
    ap.add_argument("--resources", type=int, default=10_000)
    ap.add_argument("--days", type=int, default=365)
    ap.add_argument("--db", default="", help="SQLAlchemy URL (default: a temporary SQLite file)")
    ap.add_argument("--repeat", type=int, default=20)
    a = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="billing-bench-") as tmp:
        url = a.db or f"sqlite:///{tmp}/bench.db"
        run_ingest(f"sqlite:///{tmp}/sample.db", SAMPLE, "FOCUS sample")
        path = Path(tmp) / "focus.csv"
        t0 = time.perf_counter()
        start = date.today() - timedelta(days=a.days)
        generate(path, rows=a.rows, resources=a.resources, start=start, days=a.days, sample=SAMPLE)
        print(f"\n(generated {a.rows:,} rows in {time.perf_counter() - t0:.1f} s)")
        run_ingest(url, path, "generated")
        latencies(url, a.repeat, path)
        print(
            f"\nmax RSS of the process: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:,.0f} MiB"
        )


if __name__ == "__main__":
    main()
