"""Cron schedules and time zones: parse and validate with specific errors; walk fire times.

Standard crontab semantics (5 fields: minute hour day-of-month month day-of-week, 0 or 7 =
Sunday), plus an optional leading seconds field (6 fields). APScheduler 3 numbers weekdays from
Monday = 0, so numeric weekdays are rewritten to names before they reach it.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger

from bot.i18n import N_

MIN_PERIOD = timedelta(seconds=5)
_DOW = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
_FIELDS = ("second", "minute", "hour", "day", "month", "day_of_week")
FIELD_NAMES = {
    "second": N_("seconds"),
    "minute": N_("minute"),
    "hour": N_("hour"),
    "day": N_("day of month"),
    "month": N_("month"),
    "day_of_week": N_("day of week"),
}
ALLOWED = {
    "second": "0-59",
    "minute": "0-59",
    "hour": "0-23",
    "day": "1-31",
    "month": "1-12, jan-dec",
    "day_of_week": "0-7, sun-sat",
}
_NUM_DOW = re.compile(r"^(\*|\d+)(?:-(\d+))?(?:/(\d+))?$")


class ScheduleError(ValueError):
    """A user error in a schedule; `text(t)` gives the translated, specific message."""

    def __init__(self, msgid: str, **kwargs: object) -> None:
        super().__init__(msgid.format(**kwargs))
        self.msgid = msgid
        self.kwargs = kwargs

    def text(self, t: Callable[..., str]) -> str:
        kwargs = dict(self.kwargs)
        if "field" in kwargs:
            kwargs["field"] = t(str(kwargs["field"]))
        return t(self.msgid, **kwargs)


@dataclass(frozen=True)
class Schedule:
    expr: str
    tz: str
    trigger: CronTrigger


def parse_timezone(name: str) -> ZoneInfo:
    """An IANA time zone, or ScheduleError naming the closest known zone."""
    try:
        if not name or name.startswith(("/", ".")) or ".." in name:
            raise ValueError(name)
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        close = difflib.get_close_matches(name, _zones(), n=1)
        if close:
            raise ScheduleError(
                N_("Unknown time zone “{tz}”. Did you mean {close}?"), tz=name[:64], close=close[0]
            ) from None
        raise ScheduleError(
            N_("Unknown time zone “{tz}”. Use an IANA name such as Europe/Moscow or UTC."),
            tz=name[:64],
        ) from None


@lru_cache(maxsize=1)
def _zones() -> tuple[str, ...]:
    return tuple(sorted(available_timezones()))


def _dow_names(value: str) -> str:
    """Rewrite crontab weekday numbers (0/7 = Sunday) as names APScheduler reads correctly."""
    out: list[str] = []
    for part in value.lower().split(","):
        m = _NUM_DOW.match(part)
        if not m or (m.group(1) == "*" and m.group(2)):
            out.append(part)  # names (mon-fri) and "*" pass through; APScheduler validates
            continue
        if m.group(1) == "*" and not m.group(3):
            out.append("*")
            continue
        lo = 0 if m.group(1) == "*" else int(m.group(1))
        hi = 6 if m.group(1) == "*" else int(m.group(2) or m.group(1))
        step = int(m.group(3) or 1)
        if m.group(3) and not m.group(2) and m.group(1) != "*":
            hi = 7  # "1/2": from Monday to the end of the week
        if lo > 7 or hi > 7 or lo > hi or step == 0:
            raise ScheduleError(
                N_("The {field} field “{value}” is not valid: use {allowed}."),
                field=FIELD_NAMES["day_of_week"],
                value=value[:40],
                allowed=ALLOWED["day_of_week"],
            )
        days = {d % 7 for d in range(lo, hi + 1, step)}
        out.extend(_DOW[d] for d in sorted(days))
    return ",".join(dict.fromkeys(out))


def parse_schedule(expr: str, tz: str = "UTC", *, min_period: timedelta = MIN_PERIOD) -> Schedule:
    """Validate a crontab expression (5 fields, or 6 with seconds first) in time zone `tz`."""
    zone = parse_timezone(tz)
    words = expr.split()
    if len(words) not in (5, 6):
        raise ScheduleError(
            N_(
                "A schedule has 5 fields (minute hour day-of-month month day-of-week), "
                'or 6 with seconds first; “{expr}” has {n}. Example: "0 9 * * 1-5".'
            ),
            expr=expr[:80],
            n=len(words),
        )
    if len(words) == 5:
        words = ["0", *words]
    fields = dict(zip(_FIELDS, words, strict=True))
    fields["day_of_week"] = _dow_names(fields["day_of_week"])
    for name, value in fields.items():
        try:
            CronTrigger(timezone=zone, **{name: value})
        except ValueError:
            raise ScheduleError(
                N_("The {field} field “{value}” is not valid: use {allowed}."),
                field=FIELD_NAMES[name],
                value=dict(zip(_FIELDS, ["0", *expr.split()][-6:], strict=True))[name][:40],
                allowed=ALLOWED[name],
            ) from None
    trigger = CronTrigger(timezone=zone, **fields)
    first = trigger.get_next_fire_time(None, datetime.now(zone))
    if first is None:
        raise ScheduleError(N_("The schedule “{expr}” never fires."), expr=expr[:80])
    second = trigger.get_next_fire_time(first, first)
    if second is not None and second - first < min_period:
        raise ScheduleError(
            N_("The schedule “{expr}” fires too often: at most once every {n} seconds."),
            expr=expr[:80],
            n=int(min_period.total_seconds()),
        )
    return Schedule(expr=" ".join(expr.split()), tz=tz, trigger=trigger)


def next_after(trigger: BaseTrigger, moment: datetime) -> datetime | None:
    """The first fire time strictly after `moment`."""
    return trigger.get_next_fire_time(moment, moment)


def previous_fire(trigger: BaseTrigger, now: datetime, *, not_before: datetime) -> datetime | None:
    """The latest fire time in (not_before, now], or None (searches backwards, doubling)."""
    step = timedelta(seconds=1)
    while True:
        start = max(now - step, not_before)
        first = trigger.get_next_fire_time(None, start)
        if first is not None and first == not_before:
            first = next_after(trigger, first)
        if first is not None and first <= now:
            last = first
            while (nxt := next_after(trigger, last)) is not None and nxt <= now:
                last = nxt
            return last
        if start <= not_before:
            return None
        step *= 2
