"""Anomaly radar: daily cost per service/project/region vs a robust weekday baseline."""

from __future__ import annotations

import json
import statistics
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import func, insert, select, update

from handlers.billing.options import BillingOptions
from storage import billing as repo
from storage.billing import ANOMALY, Conn

DIMENSIONS = ("service", "project", "region")
HISTORY_DAYS = 56
MAD_SIGMA = 1.4826


class Status:
    OPEN = "open"
    ACKNOWLEDGED = "acknowledged"
    DISMISSED = "dismissed"


@dataclass(frozen=True)
class Baseline:
    expected: float
    scale: float


def baseline(series: dict[date, float], day: date, first: date) -> Baseline | None:
    """Median of the same weekday over 8 weeks (or of the last 14 days) and a MAD scale."""
    same = [series.get(day - timedelta(weeks=i), 0.0) for i in range(1, 9)]
    same = same[: max(0, min(8, (day - first).days // 7))]
    if len(same) >= 3:
        values = same
    else:
        span = min(14, (day - first).days)
        values = [series.get(day - timedelta(days=i), 0.0) for i in range(1, span + 1)]
    if len(values) < 3:
        return None
    mid = statistics.median(values)
    mad = statistics.median(abs(v - mid) for v in values) * MAD_SIGMA
    return Baseline(mid, max(mad, 0.05 * abs(mid), 1e-6))


@dataclass(frozen=True)
class Anomaly:
    id: int | None
    key: str
    dimension: str
    value: str
    currency: str
    day: date
    actual: float
    expected: float
    impact: float
    score: float
    contributors: list[tuple[str, float]]
    status: str = Status.OPEN


def thresholds(conn: Conn, options: BillingOptions) -> dict[tuple[str, str], float]:
    """Per (dimension, value) k: each "not an anomaly" raises it by half, at most threefold."""
    stmt = (
        select(ANOMALY.c.dimension, ANOMALY.c.value, func.count())
        .where(ANOMALY.c.status == Status.DISMISSED)
        .group_by(ANOMALY.c.dimension, ANOMALY.c.value)
    )
    return {
        (dim, val): options.anomaly_k * min(3.0, 1.0 + 0.5 * int(n))
        for dim, val, n in conn.execute(stmt)
    }


def detect(
    conn: Conn, *, start: date, end: date, options: BillingOptions | None = None
) -> list[Anomaly]:
    """Anomalies on days in [start, end]; one per underlying cause (same top resource)."""
    options = options or BillingOptions()
    first, _ = repo.day_bounds(conn)
    if first is None:
        return []
    tuned = thresholds(conn, options)
    found: list[Anomaly] = []
    for dim in DIMENSIONS:
        series: dict[tuple[str, str], dict[date, float]] = defaultdict(dict)
        rows = repo.daily_costs(conn, start=start - timedelta(days=HISTORY_DAYS), end=end, by=dim)
        for day, key, cur, cost in rows:
            series[(key, cur)][day] = cost
        for (key, cur), values in series.items():
            k = tuned.get((dim, key), options.anomaly_k)
            day = start
            while day <= end:
                found += _check(dim, key, cur, values, day, first, k, options)
                day += timedelta(days=1)
    return _dedupe(conn, found)


def _check(
    dim: str,
    key: str,
    cur: str,
    values: dict[date, float],
    day: date,
    first: date,
    k: float,
    options: BillingOptions,
) -> list[Anomaly]:
    actual = values.get(day)
    if actual is None:
        return []
    base = baseline(values, day, first)
    if base is None:
        return []
    impact = actual - base.expected
    score = impact / base.scale
    if (
        score < k
        or impact < options.anomaly_min_impact
        or impact < options.anomaly_min_ratio * abs(base.expected)
    ):
        return []
    anomaly_key = f"{dim}:{cur}:{day.isoformat()}:{key}"[:512]
    return [
        Anomaly(None, anomaly_key, dim, key, cur, day, actual, base.expected, impact, score, [])
    ]


def _contributors(conn: Conn, a: Anomaly, n: int = 5) -> list[tuple[str, float]]:
    """Resources ranked by how much they added vs the same weekday a week earlier."""
    now = dict(
        repo.top_resources(
            conn, day=a.day, currency=a.currency, dimension=a.dimension, value=a.value, n=50
        )
    )
    week = a.day - timedelta(days=7)
    before = dict(
        repo.top_resources(
            conn, day=week, currency=a.currency, dimension=a.dimension, value=a.value, n=200
        )
    )
    ranked = sorted(((r, c - before.get(r, 0.0)) for r, c in now.items()), key=lambda x: -x[1])
    return [(r, round(d, 2)) for r, d in ranked[:n] if d > 0]


def _dedupe(conn: Conn, found: list[Anomaly]) -> list[Anomaly]:
    """Keep the strongest signal per (day, currency, top resource): one alert per cause."""
    kept: list[Anomaly] = []
    seen: set[tuple[date, str, str]] = set()
    for a in sorted(found, key=lambda x: (x.day, -x.score)):
        contributors = _contributors(conn, a)
        cause = contributors[0][0] if contributors else f"{a.dimension}:{a.value}"
        if (a.day, a.currency, cause) in seen:
            continue
        seen.add((a.day, a.currency, cause))
        kept.append(_with(a, contributors=contributors))
    return kept


def _with(a: Anomaly, **changes: object) -> Anomaly:
    from dataclasses import replace

    return replace(a, **changes)  # type: ignore[arg-type]


def _from_row(row: object) -> Anomaly:
    r = row._mapping  # type: ignore[attr-defined]
    return Anomaly(
        r["id"],
        r["key"],
        r["dimension"],
        r["value"],
        r["currency"],
        repo._day(r["day"]),
        r["actual"],
        r["expected"],
        r["impact"],
        r["score"],
        [tuple(x) for x in json.loads(r["contributors"])],  # type: ignore[misc]
        r["status"],
    )


def store(conn: Conn, anomalies: list[Anomaly]) -> int:
    """Insert anomalies whose key is new; returns how many were added."""
    if not anomalies:
        return 0
    keys = [a.key for a in anomalies]
    known = set(conn.execute(select(ANOMALY.c.key).where(ANOMALY.c.key.in_(keys))).scalars())
    fresh = [a for a in anomalies if a.key not in known]
    for a in fresh:
        conn.execute(
            insert(ANOMALY).values(
                key=a.key,
                dimension=a.dimension,
                value=a.value[:255],
                currency=a.currency,
                day=a.day,
                actual=a.actual,
                expected=a.expected,
                impact=a.impact,
                score=a.score,
                contributors=json.dumps(a.contributors),
                status=Status.OPEN,
                detected_at=repo.utcnow(),
            )
        )
    return len(fresh)


def scan_new_anomalies(
    session: Conn, now: datetime, options: BillingOptions | None = None
) -> list[Anomaly]:
    """Detect over the last days of data, store new ones, return those not yet notified once."""
    options = options or BillingOptions()
    _, newest = repo.day_bounds(session)
    if newest is None:
        return []
    end = min(newest, now.date())
    start = end - timedelta(days=options.anomaly_lookback_days - 1)
    store(session, detect(session, start=start, end=end, options=options))
    pending = session.execute(
        select(ANOMALY).where(ANOMALY.c.notified_at.is_(None), ANOMALY.c.status == Status.OPEN)
    ).all()
    out = []
    for row in pending:
        claimed = session.execute(
            update(ANOMALY)
            .where(ANOMALY.c.id == row.id, ANOMALY.c.notified_at.is_(None))
            .values(notified_at=now)
        )
        if claimed.rowcount == 1:  # type: ignore[attr-defined]
            out.append(_from_row(row))
    return sorted(out, key=lambda a: (a.day, -a.impact))


def list_anomalies(conn: Conn, *, start: date, end: date) -> list[Anomaly]:
    """Stored anomalies on days in [start, end], largest impact first."""
    rows = conn.execute(
        select(ANOMALY)
        .where(ANOMALY.c.day >= start, ANOMALY.c.day <= end)
        .order_by(ANOMALY.c.impact.desc())
    ).all()
    return [_from_row(r) for r in rows]


def get(conn: Conn, anomaly_id: int) -> Anomaly | None:
    row = conn.execute(select(ANOMALY).where(ANOMALY.c.id == anomaly_id)).first()
    return _from_row(row) if row else None


def record_feedback(conn: Conn, *, anomaly_id: int, status: str, actor: str) -> bool:
    """Acknowledge or dismiss an open anomaly (compare-and-set; a second click is a no-op)."""
    if status not in (Status.ACKNOWLEDGED, Status.DISMISSED):
        raise ValueError(status)
    result = conn.execute(
        update(ANOMALY)
        .where(ANOMALY.c.id == anomaly_id, ANOMALY.c.status == Status.OPEN)
        .values(status=status, feedback_by=actor[:255], feedback_at=repo.utcnow())
    )
    return result.rowcount == 1  # type: ignore[attr-defined]
