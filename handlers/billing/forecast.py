"""Month-end forecast: weekday-seasonal run rate with a residual-based interval; backtest."""

from __future__ import annotations

import calendar
import math
import statistics
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, timedelta

from storage import billing as repo
from storage.billing import Conn

Z80 = 1.2816
WINDOW = 56
LEVEL_DAYS = 14
LEVEL_FLOOR = 0.03  # run rates drift: never claim the level is known better than ±3%


@dataclass(frozen=True)
class Forecast:
    currency: str
    as_of: date
    month_end: date
    actual_to_date: float
    expected: float
    low: float
    high: float
    days_remaining: int


def month_end(day: date) -> date:
    return day.replace(day=calendar.monthrange(day.year, day.month)[1])


def weekday_factors(series: dict[date, float], as_of: date) -> list[float]:
    """Mean cost per weekday over the last 8 weeks relative to the overall mean (1.0 if thin)."""
    days = [as_of - timedelta(days=i) for i in range(WINDOW)]
    values = [(d, series[d]) for d in days if d in series]
    overall = statistics.fmean(v for _, v in values) if values else 0.0
    if len(values) < 14 or overall <= 0:
        return [1.0] * 7
    by_day: dict[int, list[float]] = defaultdict(list)
    for d, v in values:
        by_day[d.weekday()].append(v)
    return [
        max(0.05, statistics.fmean(by_day[w]) / overall) if by_day[w] else 1.0 for w in range(7)
    ]


def _trimmed_mean(values: list[float]) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    cut = len(ordered) // 7
    return statistics.fmean(ordered[cut : len(ordered) - cut] or ordered)


def forecast_series(series: dict[date, float], as_of: date, currency: str = "") -> Forecast:
    """Forecast the month containing `as_of` from daily costs up to and including `as_of`."""
    end = month_end(as_of)
    factors = weekday_factors(series, as_of)
    recent = [
        as_of - timedelta(days=i) for i in range(LEVEL_DAYS) if as_of - timedelta(days=i) in series
    ]
    adjusted = [series[d] / factors[d.weekday()] for d in recent]
    # A trimmed mean: one spike in the last two weeks should not move the whole month.
    level = _trimmed_mean(adjusted)
    window = [as_of - timedelta(days=i) for i in range(28)]
    resid = [series[d] / factors[d.weekday()] / level - 1 for d in window if d in series and level]
    sigma = statistics.pstdev(resid) if len(resid) >= 2 else 0.25
    actual = sum(v for d, v in series.items() if as_of.replace(day=1) <= d <= as_of)
    remaining = [as_of + timedelta(days=i) for i in range(1, (end - as_of).days + 1)]
    weights = [factors[d.weekday()] for d in remaining]
    expected = actual + level * sum(weights)
    # Daily noise adds up as a random walk; the level's own error scales with the horizon.
    level_sigma = max(sigma / math.sqrt(max(1, len(adjusted))), LEVEL_FLOOR)
    var = sum(w * w for w in weights) * sigma**2 + (sum(weights) * level_sigma) ** 2
    half = Z80 * abs(level) * math.sqrt(var)
    return Forecast(
        currency, as_of, end, actual, expected, expected - half, expected + half, len(remaining)
    )


def _series(conn: Conn, start: date, end: date) -> dict[str, dict[date, float]]:
    out: dict[str, dict[date, float]] = defaultdict(dict)
    for day, _, cur, cost in repo.daily_costs(conn, start=start, end=end):
        out[cur][day] = cost
    return out


def forecast(conn: Conn, *, as_of: date) -> list[Forecast]:
    """Month-end forecast per currency as of `as_of`."""
    series = _series(conn, as_of - timedelta(days=WINDOW + 31), as_of)
    return [forecast_series(s, as_of, cur) for cur, s in sorted(series.items())]


@dataclass(frozen=True)
class BacktestPoint:
    currency: str
    month: date
    forecast: float
    actual: float
    inside: bool

    @property
    def ape(self) -> float:
        return abs(self.forecast - self.actual) / abs(self.actual) * 100 if self.actual else 0.0


@dataclass(frozen=True)
class Backtest:
    points: list[BacktestPoint]

    @property
    def mape(self) -> float | None:
        return statistics.fmean(p.ape for p in self.points) if self.points else None

    @property
    def coverage(self) -> float | None:
        return sum(p.inside for p in self.points) / len(self.points) if self.points else None


def backtest(conn: Conn, *, day_of_month: int = 14) -> Backtest:
    """Forecast each complete month in the mart as of its `day_of_month`; compare to actual."""
    first, last = repo.day_bounds(conn)
    if first is None or last is None:
        return Backtest([])
    series = _series(conn, first, last)
    points = []
    month = first.replace(day=1)
    while month_end(month) <= last:
        as_of = month.replace(day=day_of_month)
        if as_of >= first:
            for cur, s in sorted(series.items()):
                actual = sum(v for d, v in s.items() if month <= d <= month_end(month))
                if not actual:
                    continue
                f = forecast_series(s, as_of, cur)
                points.append(
                    BacktestPoint(cur, month, f.expected, actual, f.low <= actual <= f.high)
                )
        month = month_end(month) + timedelta(days=1)
    return Backtest(points)
