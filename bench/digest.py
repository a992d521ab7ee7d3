"""Digest benchmark: one query per section vs. a per-service query loop, 1,000 services.

Backfills a 1,000-service estate with promtool into a real Prometheus on a free loopback port,
then builds the digest with the engine (one query per section across all services) and with
a per-service loop (the same engine, one `--service` digest per service), printing the
number of Prometheus queries and the p50 build time side by side.

    .venv/bin/python -m bench.digest [--services 1000] [--runs 5] [--baseline-runs 3]
"""

from __future__ import annotations

import argparse
import statistics
import time
from datetime import UTC, datetime

from bot.clients.prometheus import PrometheusClient
from handlers.digests import Digest, DigestConfig, build_digest, load_config
from tests.harness.estate import estate_openmetrics, large_estate
from tests.harness.promstack import PromStack, StackConfig

PROM_SECTIONS = ["alerts", "errors", "latency", "slo", "saturation"]


def engine_digest(prom: PrometheusClient, cfg: DigestConfig, now: datetime, workers: int) -> Digest:
    return build_digest(
        prom=prom,
        alertmanager=None,
        config=cfg,
        window="1h",
        now=now,
        sections=PROM_SECTIONS,
        max_workers=workers,
    )


def per_service_loop(
    prom: PrometheusClient, cfg: DigestConfig, now: datetime, services: list[str], workers: int
) -> set[tuple[str, str]]:
    """The baseline: one digest per service, i.e. every section's query once per service."""
    problems: set[tuple[str, str]] = set()
    for name in services:
        digest = build_digest(
            prom=prom,
            alertmanager=None,
            config=cfg,
            window="1h",
            now=now,
            service=name,
            sections=PROM_SECTIONS,
            max_workers=workers,
        )
        problems |= {(s.id, k) for s in digest.sections for k in s.problems}
    return problems


def timed(fn, runs: int) -> tuple[float, object]:  # type: ignore[no-untyped-def]
    times, result = [], None
    for _ in range(runs):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--services", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--baseline-runs", type=int, default=3)
    parser.add_argument("--workers", type=int, default=4)
    args = parser.parse_args()

    now = datetime.fromtimestamp(int(time.time()) // 60 * 60 - 60, UTC)
    specs = large_estate(args.services)
    stack = PromStack(StackConfig(with_alertmanager=False))
    t0 = time.perf_counter()
    stack.backfill(estate_openmetrics(specs, now.timestamp()))
    stack.start()
    print(f"backfilled {len(specs)} services, started Prometheus: {time.perf_counter() - t0:.1f}s")
    try:
        cfg = load_config()
        prom = PrometheusClient(stack.prometheus_url, timeout=60)
        engine_digest(prom, cfg, now, args.workers)  # warm-up (Prometheus caches, imports)

        rows = []
        for label, workers in (
            (f"engine ({args.workers} threads)", args.workers),
            ("engine (sequential)", 1),
        ):
            before = prom.query_count
            p50, digest = timed(lambda w=workers: engine_digest(prom, cfg, now, w), args.runs)
            queries = (prom.query_count - before) // args.runs
            rows.append((label, queries, p50, args.runs))
        engine_problems = {(s.id, k) for s in digest.sections for k in s.problems}  # type: ignore[attr-defined]

        print("\nper section (engine, sequential), p50:")
        for sid in PROM_SECTIONS:
            p50s, _ = timed(
                lambda sid=sid: build_digest(
                    prom=prom, alertmanager=None, config=cfg, window="1h", now=now, sections=[sid]
                ),
                args.runs,
            )
            print(f"  {sid:<12} {p50s:.3f}s")

        names = [s.name for s in specs]
        before = prom.query_count
        p50, baseline_problems = timed(
            lambda: per_service_loop(prom, cfg, now, names, args.workers), args.baseline_runs
        )
        queries = (prom.query_count - before) // args.baseline_runs
        rows.append(
            (f"per-service loop ({args.workers} threads)", queries, p50, args.baseline_runs)
        )

        print(f"\n{f'digest of {len(specs)} services':<34} {'queries':>8} {'p50':>10} {'runs':>5}")
        for label, q, t, n in rows:
            print(f"{label:<34} {q:>8} {t:>9.3f}s {n:>5}")
        print(f"\nspeed-up engine vs per-service loop: {rows[2][2] / rows[0][2]:.0f}x")
        same = engine_problems == baseline_problems
        print(f"same breaching (section, service) pairs in both: {same} ({len(engine_problems)})")
    finally:
        stack.stop()


if __name__ == "__main__":
    main()
