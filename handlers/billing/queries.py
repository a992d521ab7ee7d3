"""Cost questions over the mart: periods, summary with deltas, top N, freshness."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from bot.i18n import N_
from storage import billing as repo
from storage.billing import Conn

PERIODS = ("7d", "30d", "mtd", "last-month")
GROUPINGS = ("service", "project", "region", "charge_category", "resource")
_DAYS = re.compile(r"^(\d{1,3})d$")


class QueryError(ValueError):
    """A bad period or grouping; the message is safe to show to the user."""


@dataclass(frozen=True)
class Period:
    start: date
    end: date
    label: str

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    def previous(self) -> Period:
        """The equal-length period just before (the previous calendar month for months)."""
        if self.label == "last-month":
            end = self.start - timedelta(days=1)
            return Period(end.replace(day=1), end, "previous month")
        end = self.start - timedelta(days=1)
        return Period(end - timedelta(days=self.days - 1), end, "previous period")


def anchor_day(conn: Conn, today: date) -> date:
    """The day periods end on: today, or the newest day in the mart when data lags."""
    _, newest = repo.day_bounds(conn)
    return min(today, newest) if newest else today


def parse_period(
    spec: str | None, *, anchor: date, start: str | None = None, end: str | None = None
) -> Period:
    """7d|30d|Nd|mtd|last-month, or explicit --from/--to (YYYY-MM-DD, inclusive)."""
    if start or end:
        try:
            lo = date.fromisoformat(start) if start else anchor.replace(day=1)
            hi = date.fromisoformat(end) if end else anchor
        except ValueError:
            raise QueryError(N_("dates must look like YYYY-MM-DD")) from None
        if hi < lo or (hi - lo).days > 3660:
            raise QueryError(N_("--from must be before --to (at most 10 years)"))
        return Period(lo, hi, f"{lo}…{hi}")
    spec = (spec or "30d").lower()
    if match := _DAYS.match(spec):
        days = int(match.group(1))
        if not 1 <= days <= 731:
            raise QueryError(N_("a period in days must be 1d to 731d"))
        return Period(anchor - timedelta(days=days - 1), anchor, spec)
    if spec == "mtd":
        return Period(anchor.replace(day=1), anchor, spec)
    if spec == "last-month":
        end = anchor.replace(day=1) - timedelta(days=1)
        return Period(end.replace(day=1), end, spec)
    raise QueryError(N_("period must be one of 7d, 30d, mtd, last-month (or --from/--to)"))


def check_grouping(by: str | None) -> str:
    by = (by or "service").lower()
    if by in GROUPINGS or (by.startswith("tag:") and re.match(r"^tag:[\w.:-]{1,64}$", by)):
        return by
    raise QueryError(N_("--by must be service, project, region, resource or tag:KEY"))


@dataclass(frozen=True)
class Line:
    key: str
    label: str
    currency: str
    cost: float
    previous: float

    @property
    def delta(self) -> float:
        return self.cost - self.previous

    @property
    def pct(self) -> float | None:
        return None if abs(self.previous) < 1e-9 else self.delta / abs(self.previous) * 100


@dataclass(frozen=True)
class Summary:
    period: Period
    previous: Period
    by: str
    lines: list[Line]
    totals: list[Line]
    daily: list[tuple[date, str, float]] = field(default_factory=list)


def _ranked(conn: Conn, period: Period, by: str, n: int) -> tuple[list[repo.Ranked], Period]:
    prev = period.previous()
    rows = repo.ranked_costs(
        conn,
        start=period.start,
        end=period.end,
        prev_start=prev.start,
        prev_end=prev.end,
        by=by,
        n=n,
    )
    return rows, prev


def _to_lines(conn: Conn, rows: list[repo.Ranked], by: str, period: Period) -> list[Line]:
    names = repo.labels(conn, by=by, keys={r.key for r in rows}, start=period.start, end=period.end)
    return [Line(r.key, names.get(r.key, r.key), r.currency, r.cost, r.previous) for r in rows]


def summary(conn: Conn, *, period: Period, by: str, limit: int = 10) -> Summary:
    """Cost per group (largest first, per currency) with deltas vs the previous period."""
    rows, prev = _ranked(conn, period, by, limit)
    mine = sorted(
        (r for r in rows if r.rank_in_currency <= limit), key=lambda r: (r.currency, -r.cost)
    )
    shown = _to_lines(conn, mine, by, period)
    kept: list[Line] = []
    for currency in sorted({r.currency for r in mine}):
        group = [ln for ln in shown if ln.currency == currency]
        kept += group
        first = next(r for r in mine if r.currency == currency)
        if first.currency_groups > len(group):
            kept.append(
                Line(
                    "*",
                    "…",
                    currency,
                    first.currency_cost - sum(x.cost for x in group),
                    first.currency_previous - sum(x.previous for x in group),
                )
            )
    totals_now = repo.grouped_costs(conn, start=period.start, end=period.end, by="total")
    totals_prev = repo.grouped_costs(conn, start=prev.start, end=prev.end, by="total")
    totals = [
        Line("", "", cur, cost, totals_prev.get(("", cur), 0.0))
        for (_, cur), cost in sorted(totals_now.items())
    ]
    daily = [
        (d, cur, c) for d, _, cur, c in repo.daily_costs(conn, start=period.start, end=period.end)
    ]
    return Summary(period, prev, by, kept, totals, daily)


@dataclass(frozen=True)
class Top:
    period: Period
    previous: Period
    by: str
    largest: list[Line]
    growing: list[Line]


def top(conn: Conn, *, period: Period, by: str, n: int = 10) -> Top:
    """The N largest groups and the N fastest-growing (by money added vs the previous period)."""
    rows, prev = _ranked(conn, period, by, n)
    lines = dict(zip(rows, _to_lines(conn, rows, by, period), strict=True))
    largest = [lines[r] for r in sorted(rows, key=lambda r: r.rank) if r.rank <= n]
    growing = [
        lines[r]
        for r in sorted(rows, key=lambda r: r.rank_growth)
        if r.rank_growth <= n and lines[r].delta > 0
    ]
    return Top(period, prev, by, largest, growing)


@dataclass(frozen=True)
class Freshness:
    newest_charge: datetime | None
    last_ingest: datetime | None
    age: timedelta | None
    stale: bool


def freshness(conn: Conn, *, now: datetime, threshold: timedelta) -> Freshness:
    """How old the newest charge period is; stale past `threshold` (or with no data)."""
    newest, last = repo.freshness(conn)
    age = now - newest if newest else None
    return Freshness(newest, last, age, age is None or age > threshold)
