"""Known historical telemetry for services, as OpenMetrics text to backfill with promtool.

Counters are built from piecewise-constant rates so PromQL results are predictable:
`error_ratio`/`buckets` apply to the last `change_after` seconds, `*_before` to the time
before. Samples are dense (every `fine_step`) near `now` and sparse further back, to keep a
1,000-service estate small while 5m, 30m, 1h and 6h windows all have enough samples.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

from tests.harness.promstack import openmetrics_text

LE = ("0.1", "0.5", "1", "+Inf")


@dataclass(frozen=True)
class ServiceSpec:
    name: str
    rps: float = 10.0
    error_ratio: float = 0.0
    error_ratio_before: float | None = None  # default: same as now
    # cumulative fraction of requests at or under each `le` (the last must be 1.0)
    buckets: Mapping[str, float] = field(default_factory=lambda: {"0.1": 1.0})
    buckets_before: Mapping[str, float] | None = None
    change_after: float = 3600.0  # seconds before `now` when "now" values start
    cpu_cores: float | None = None
    cpu_limit: float = 1.0
    memory_bytes: float | None = None
    memory_limit: float = 1024**3


def _cumulative(buckets: Mapping[str, float]) -> dict[str, float]:
    out: dict[str, float] = {}
    last = 0.0
    for le in LE:
        last = max(last, buckets.get(le, last))
        out[le] = last if le != "+Inf" else 1.0
    return out


def timestamps(
    now: float, *, history: float, fine_for: float, fine_step: float, coarse_step: float
) -> list[float]:
    """Sample times: coarse from `now - history`, fine during the last `fine_for` seconds."""
    out: list[float] = []
    t = now - history
    while t < now - fine_for:
        out.append(t)
        t += coarse_step
    t = now - fine_for
    while t <= now + 1e-6:
        out.append(round(t, 3))
        t += fine_step
    return out


Row = tuple[str, dict[str, str], list[tuple[float, float]]]


def service_series(
    spec: ServiceSpec, ts: list[float], now: float, *, gauge_for: float = 600
) -> Iterator[Row]:
    """Series of one service: requests by code, duration buckets, CPU and memory."""
    before_ratio = spec.error_ratio if spec.error_ratio_before is None else spec.error_ratio_before
    now_b = _cumulative(spec.buckets)
    before_b = _cumulative(spec.buckets_before or spec.buckets)
    boundary = now - spec.change_after

    def counter(rate_now: float, rate_before: float) -> list[tuple[float, float]]:
        # integral of a rate that switches at `boundary`, from the first timestamp
        start = ts[0]
        pts = []
        for t in ts:
            if t <= boundary:
                v = (t - start) * rate_before
            else:
                v = (boundary - start) * rate_before + (t - boundary) * rate_now
            pts.append((t, v))
        return pts

    svc = {"service": spec.name}
    err_now, err_before = spec.rps * spec.error_ratio, spec.rps * before_ratio
    yield ("http_requests_total", {**svc, "code": "500"}, counter(err_now, err_before))
    yield (
        "http_requests_total",
        {**svc, "code": "200"},
        counter(spec.rps - err_now, spec.rps - err_before),
    )
    for le in LE:
        yield (
            "http_request_duration_seconds_bucket",
            {**svc, "le": le},
            counter(spec.rps * now_b[le], spec.rps * before_b[le]),
        )
    recent = [t for t in ts if t >= now - gauge_for]
    if spec.cpu_cores is not None:
        yield (
            "container_cpu_usage_seconds_total",
            {"container": spec.name},
            counter(spec.cpu_cores, spec.cpu_cores),
        )
        yield (
            "kube_pod_container_resource_limits",
            {"container": spec.name, "resource": "cpu"},
            [(t, spec.cpu_limit) for t in recent],
        )
    if spec.memory_bytes is not None:
        yield (
            "container_memory_working_set_bytes",
            {"container": spec.name},
            [(t, spec.memory_bytes) for t in recent],
        )
        yield (
            "kube_pod_container_resource_limits",
            {"container": spec.name, "resource": "memory"},
            [(t, spec.memory_limit) for t in recent],
        )


def estate_openmetrics(
    specs: list[ServiceSpec],
    now: float,
    *,
    history: float = 7 * 3600,
    fine_for: float = 75 * 60,
    fine_step: float = 60,
    coarse_step: float = 600,
) -> str:
    """OpenMetrics text for all `specs`, grouped by metric name as OpenMetrics requires."""
    ts = timestamps(
        now, history=history, fine_for=fine_for, fine_step=fine_step, coarse_step=coarse_step
    )
    by_name: dict[str, list[Row]] = {}
    for spec in specs:
        for row in service_series(spec, ts, now, gauge_for=fine_for):
            by_name.setdefault(row[0], []).append(row)
    return openmetrics_text(row for rows in by_name.values() for row in rows)


def large_estate(n: int = 1000) -> list[ServiceSpec]:
    """A deterministic estate: a few services red, some amber, most healthy."""
    specs = []
    for i in range(n):
        if i % 100 == 0:
            ratio = 0.08  # red error rate and a fast SLO burn
        elif i % 20 == 0:
            ratio = 0.02  # amber
        else:
            ratio = 0.0002 * (i % 5)
        slow = i % 40 == 0
        specs.append(
            ServiceSpec(
                name=f"svc-{i:04d}",
                rps=5 + i % 7,
                error_ratio=ratio,
                buckets={"0.1": 0.2, "0.5": 0.5, "1": 0.9} if slow else {"0.1": 0.9, "0.5": 1.0},
                buckets_before={"0.1": 0.9, "0.5": 1.0},
                cpu_cores=0.05 + (i % 10) * 0.1,
                memory_bytes=(0.3 + (i % 7) * 0.1) * 1024**3,
            )
        )
    return specs
