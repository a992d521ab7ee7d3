"""Cron and time-zone validation: specific errors; crontab weekday semantics; walking slots."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bot.crontab import ScheduleError, parse_schedule, parse_timezone, previous_fire


def t(s: str, **kw: object) -> str:
    return s.format(**kw)


@pytest.mark.parametrize(
    ("expr", "message"),
    [
        ("0 9 * *", "has 4"),
        ("* * * * * * *", "has 7"),
        ("61 * * * *", "The minute field “61” is not valid: use 0-59."),
        ("0 25 * * *", "The hour field “25” is not valid: use 0-23."),
        ("0 9 32 * *", "The day of month field “32” is not valid: use 1-31."),
        ("0 9 * 13 *", "The month field “13” is not valid"),
        ("0 9 * * mon-fry", "The day of week field “mon-fry” is not valid"),
        ("0 9 * * 8", "The day of week field “8” is not valid: use 0-7, sun-sat."),
        ("*/0 * * * *", "The minute field “*/0” is not valid"),
        ("0 0 31 2 *", "never fires"),
        ("* * * * * *", "fires too often: at most once every 5 seconds"),
        ("70 0 9 * * *", "The seconds field “70” is not valid"),
    ],
)
def test_bad_schedules_get_a_specific_error(expr: str, message: str) -> None:
    with pytest.raises(ScheduleError) as exc:
        parse_schedule(expr)
    assert message in exc.value.text(t)


def test_errors_translate_the_field_name() -> None:
    from bot.i18n import translator

    with pytest.raises(ScheduleError) as exc:
        parse_schedule("0 25 * * *")
    assert "«час»" in exc.value.text(translator("ru").t)


def test_time_zones() -> None:
    assert str(parse_timezone("Europe/Moscow")) == "Europe/Moscow"
    with pytest.raises(ScheduleError, match="Did you mean Europe/Moscow"):
        parse_timezone("Europe/Moscw")
    for bad in ("Mars/Olympus", "../../etc/passwd", ""):
        with pytest.raises(ScheduleError, match="IANA"):
            parse_timezone(bad)


@pytest.mark.parametrize(
    ("dow", "days"),
    [
        ("1-5", {"Monday", "Tuesday", "Wednesday", "Thursday", "Friday"}),
        ("0", {"Sunday"}),
        ("7", {"Sunday"}),
        ("5-7", {"Friday", "Saturday", "Sunday"}),
        ("*/2", {"Sunday", "Tuesday", "Thursday", "Saturday"}),
        ("mon,wed", {"Monday", "Wednesday"}),
        ("1,3-4", {"Monday", "Wednesday", "Thursday"}),
    ],
)
def test_weekdays_follow_crontab_not_apscheduler3(dow: str, days: set[str]) -> None:
    """APScheduler 3 reads 0 as Monday; crontab (and users) read 0 as Sunday."""
    trigger = parse_schedule(f"0 9 * * {dow}").trigger
    moment = datetime(2026, 11, 29, tzinfo=UTC)  # a Sunday
    seen = set()
    for _ in range(14):
        moment = trigger.get_next_fire_time(moment, moment)
        seen.add(moment.strftime("%A"))
    assert seen == days


def test_schedule_runs_in_its_time_zone() -> None:
    trigger = parse_schedule("0 9 * * *", "Europe/Moscow").trigger
    nxt = trigger.get_next_fire_time(None, datetime(2026, 11, 29, 5, 0, tzinfo=UTC))
    assert nxt.astimezone(UTC) == datetime(2026, 11, 29, 6, 0, tzinfo=UTC)


def test_previous_fire_finds_the_latest_slot() -> None:
    trigger = parse_schedule("0 9 * * 1-5", "UTC").trigger
    now = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)  # Sunday: the last one was Friday
    last = previous_fire(trigger, now, not_before=now - timedelta(days=30))
    assert last == datetime(2026, 11, 27, 9, 0, tzinfo=UTC)
    assert previous_fire(trigger, now, not_before=now - timedelta(days=1)) is None
    secs = parse_schedule("*/5 * * * * *").trigger
    at = datetime(2026, 11, 29, 12, 0, 7, tzinfo=UTC)
    assert previous_fire(secs, at, not_before=at - timedelta(hours=1)) == at.replace(second=5)
    # a slot exactly at not_before does not count (a subscription made at 12:00:05)
    assert previous_fire(secs, at, not_before=at.replace(second=5)) is None
