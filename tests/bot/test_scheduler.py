"""Leader lease, once-per-slot runs, misfire grace and take-over, on SQLite and PostgreSQL.

The scheduler is driven directly with a fake clock (no APScheduler timing involved); the
multi-process failover tests are in tests/e2e/test_scheduler_replicas.py.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import select

from bot.config import load_settings
from bot.context import Runtime, Services
from bot.messages import Message
from bot.router import Router
from bot.scheduler import JobContext, Scheduler
from storage import scheduler as runs
from storage.db import unit_of_work
from storage.models.core import OutboxMessage

T0 = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def _scheduler(engine: Engine, clock: Clock, holder: str) -> Scheduler:
    runtime = Runtime(
        settings=load_settings(database_url=str(engine.url.render_as_string(False))),
        engine=engine,
        router=Router(),
        apis={},
        services=Services(),
        clock=clock,
    )
    return Scheduler(
        runtime,
        holder=holder,
        lease_ttl=timedelta(seconds=15),
        renew_every=timedelta(seconds=5),
    )


def _posting(channel: str) -> Callable[[JobContext], None]:
    def job(ctx: JobContext) -> None:
        ctx.post(
            platform="local",
            channel_id=channel,
            message=Message.plain(f"slot {runs.slot_key(ctx.slot)}"),
        )

    return job


def _posts(engine: Engine, channel: str) -> list[str]:
    with unit_of_work(engine) as s:
        rows = s.exec(select(OutboxMessage).where(OutboxMessage.channel_id == channel)).all()
        return sorted(Message.model_validate_json(r.payload).text for r in rows)


def _lead(s: Scheduler) -> None:
    s.token = s.renew()
    assert s.token is not None
    s.load_specs()


def test_one_leader_at_a_time_and_take_over_after_expiry(engine: Engine) -> None:
    clock = Clock(T0)
    a, b = _scheduler(engine, clock, "a"), _scheduler(engine, clock, "b")
    a.token = a.renew()
    assert a.token == 1 and a.is_leader
    assert b.renew() is None  # a holds a valid lease
    clock.now += timedelta(seconds=10)
    assert a.renew() == 1  # renewed: same term
    clock.now += timedelta(seconds=14)
    assert b.renew() is None  # still valid (renewed 14 s ago, ttl 15 s)
    clock.now += timedelta(seconds=2)  # a stopped renewing: its lease has expired
    b.token = b.renew()
    assert b.token == 2  # a new term: the fencing token grew
    assert a.renew() is None  # a's renewal with its old token fails
    with unit_of_work(engine) as s:
        row = runs.lease(s, name="scheduler")
        assert row is not None and row.holder == "b" and row.token == 2


def test_a_holder_that_lost_track_of_its_token_gets_the_same_term_back(engine: Engine) -> None:
    """Two renewals racing in one process (the loop's and a direct call): the one that did not
    take the lease must not read "someone else leads" — it is the same holder."""
    clock = Clock(T0)
    a, b = _scheduler(engine, clock, "a"), _scheduler(engine, clock, "b")
    a.token = a.renew()
    assert a.token == 1
    a.token = None  # the other renewal's result was not seen
    assert a.renew() == 1  # same term, not a new one, and not None
    assert b.renew() is None


def test_release_hands_over_at_once(engine: Engine) -> None:
    clock = Clock(T0)
    a, b = _scheduler(engine, clock, "a"), _scheduler(engine, clock, "b")
    a.token = a.renew()
    a.release()
    assert b.renew() == 2


def test_a_slot_runs_once_across_leaders(engine: Engine) -> None:
    clock = Clock(T0)
    a, b = _scheduler(engine, clock, "a"), _scheduler(engine, clock, "b")
    for s in (a, b):
        s.add_job("test:post", _posting("C1"), every=timedelta(minutes=1))
    _lead(a)
    spec = a.load_specs()["test:post"]
    assert a.fire(spec, T0) == "done"
    assert a.fire(spec, T0) == "duplicate"
    assert b.fire(spec, T0) == "not-leader"
    clock.now += timedelta(seconds=16)
    _lead(b)
    assert b.fire(b.load_specs()["test:post"], T0) == "duplicate"
    assert b.fire(b.load_specs()["test:post"], T0 + timedelta(minutes=1)) == "done"
    assert _posts(engine, "C1") == [
        "slot 2026-11-30T09:00:00+00:00",
        "slot 2026-11-30T09:01:00+00:00",
    ]


def test_a_failing_job_rolls_back_its_posts(engine: Engine) -> None:
    clock = Clock(T0)
    a = _scheduler(engine, clock, "a")

    def broken(ctx: JobContext) -> None:
        _posting("C2")(ctx)
        raise RuntimeError("boom")

    a.add_job("test:broken", broken, every=timedelta(minutes=1))
    _lead(a)
    assert a.fire(a.load_specs()["test:broken"], T0) == "failed"
    assert _posts(engine, "C2") == []
    with unit_of_work(engine) as s:
        (run,) = runs.runs(s, job_id="test:broken")
        assert run.status == "failed" and "boom" in (run.error or "")


def test_missed_slot_within_grace_runs_once_on_start(engine: Engine) -> None:
    clock = Clock(T0 + timedelta(minutes=20))  # the bot was down at 09:00, back at 09:20
    a = _scheduler(engine, clock, "a")
    a.add_job("test:daily", _posting("C3"), cron="0 9 * * *", grace=timedelta(minutes=30))
    _lead(a)
    spec = a.load_specs()["test:daily"]
    assert a.catch_up(spec) == "done"
    assert a.catch_up(spec) is None  # already ran
    assert _posts(engine, "C3") == ["slot 2026-11-30T09:00:00+00:00"]


def test_missed_slot_beyond_grace_is_skipped_with_a_log_line(
    engine: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    clock = Clock(T0 + timedelta(minutes=45))
    a = _scheduler(engine, clock, "a")
    a.add_job("test:daily", _posting("C4"), cron="0 9 * * *", grace=timedelta(minutes=30))
    _lead(a)
    spec = a.load_specs()["test:daily"]
    with caplog.at_level(logging.WARNING, logger="bot.scheduler"):
        assert a.catch_up(spec) == "skipped"
    assert "missed slot skipped" in caplog.text
    assert _posts(engine, "C4") == []
    with unit_of_work(engine) as s:
        (run,) = runs.runs(s, job_id="test:daily")
        assert run.status == "skipped" and run.slot == "2026-11-30T09:00:00+00:00"
    assert a.catch_up(spec) is None  # skipped once, not again on the next start


def test_only_the_latest_missed_slot_is_posted(engine: Engine) -> None:
    clock = Clock(T0 + timedelta(minutes=3, seconds=30))  # 09:01, 09:02, 09:03 missed
    a = _scheduler(engine, clock, "a")
    a.add_job("test:minutely", _posting("C5"), every=timedelta(minutes=1))
    _lead(a)
    assert a.catch_up(a.load_specs()["test:minutely"]) == "done"
    assert _posts(engine, "C5") == ["slot 2026-11-30T09:03:00+00:00"]


def test_time_zone_of_a_cron_job(engine: Engine) -> None:
    clock = Clock(datetime(2026, 11, 30, 6, 10, tzinfo=UTC))  # 09:10 in Moscow
    a = _scheduler(engine, clock, "a")
    a.add_job("test:msk", _posting("C6"), cron="0 9 * * *", tz="Europe/Moscow")
    _lead(a)
    assert a.catch_up(a.load_specs()["test:msk"]) == "done"
    assert _posts(engine, "C6") == ["slot 2026-11-30T06:00:00+00:00"]


def test_interrupted_run_is_adopted_and_the_old_leader_is_fenced(engine: Engine) -> None:
    clock = Clock(T0)
    a, b = _scheduler(engine, clock, "a"), _scheduler(engine, clock, "b")
    for s in (a, b):
        s.add_job("test:post", _posting("C7"), every=timedelta(minutes=1))
    _lead(a)
    # a claimed the slot, then stalled (or died) before finishing
    with unit_of_work(engine) as s:
        assert runs.claim_run(s, job_id="test:post", slot=T0, holder="a", token=1, now=clock())
    clock.now += timedelta(seconds=20)
    _lead(b)
    assert b.adopt_interrupted() == [("test:post", T0)]
    assert b.fire(b.load_specs()["test:post"], T0, adopted=True) == "done"
    # a wakes up and tries to finish its run: its writes are rolled back
    a._leader_until = float("inf")
    with unit_of_work(engine) as s:
        assert not runs.finish_run(s, job_id="test:post", slot=T0, token=1, now=clock())
    assert _posts(engine, "C7") == ["slot 2026-11-30T09:00:00+00:00"]


def test_old_interrupted_run_beyond_grace_is_failed_not_rerun(engine: Engine) -> None:
    clock = Clock(T0)
    b = _scheduler(engine, clock, "b")
    b.add_job("test:post", _posting("C8"), every=timedelta(minutes=1), grace=timedelta(minutes=5))
    with unit_of_work(engine) as s:
        runs.claim_run(s, job_id="test:post", slot=T0, holder="a", token=0, now=clock())
    clock.now += timedelta(hours=1)
    _lead(b)
    assert b.adopt_interrupted() == []
    with unit_of_work(engine) as s:
        (run,) = runs.runs(s, job_id="test:post")
        assert run.status == "failed" and "interrupted" in (run.error or "")


def test_registration_errors(engine: Engine) -> None:
    a = _scheduler(engine, Clock(T0), "a")
    a.add_job("test:x", _posting("C"), every=timedelta(minutes=1))
    with pytest.raises(ValueError, match="twice"):
        a.add_job("test:x", _posting("C"), every=timedelta(minutes=1))
    with pytest.raises(ValueError, match="exactly one"):
        a.add_job("test:y", _posting("C"))


def test_prune_job_runs(engine: Engine) -> None:
    clock = Clock(T0)
    a = _scheduler(engine, clock, "a")
    _lead(a)
    with unit_of_work(engine) as s:
        old = T0 - timedelta(days=40)
        runs.claim_run(s, job_id="x", slot=old, holder="a", token=1, now=old, status="skipped")
        runs.claim_run(s, job_id="x", slot=T0, holder="a", token=1, now=T0, status="skipped")
    assert a.fire(a.load_specs()["core:prune-job-runs"], T0) == "done"
    with unit_of_work(engine) as s:
        assert [r.slot for r in runs.runs(s, job_id="x")] == ["2026-11-30T09:00:00+00:00"]


def test_prune_events_forgets_old_handled_events_and_delivered_answers_only(
    engine: Engine,
) -> None:
    from sqlalchemy import text

    from bot import inbox
    from storage.models.core import InboxEvent

    clock = Clock(T0)
    a = _scheduler(engine, clock, "a")
    _lead(a)
    old_answer, recent, old_event = (
        T0 - timedelta(days=31),
        T0 - timedelta(days=2),
        T0 - timedelta(days=401),
    )
    with unit_of_work(engine) as s:
        for key, op, status, at in [
            ("ans-old-sent", "ephemeral", "sent", old_answer),  # goes
            ("ans-old-failed", "ephemeral", "failed", old_answer),  # goes
            ("ans-old-pending", "ephemeral", "pending", old_answer),  # still to deliver
            ("ans-recent", "ephemeral", "sent", recent),
            ("post-old", "post", "sent", old_event),  # threads and updates refer to it
        ]:
            s.add(
                OutboxMessage(
                    key=key,
                    platform="slack",
                    op=op,
                    channel_id="C1",
                    payload="{}",
                    status=status,
                    created_at=at,
                )
            )
        for event_id, status, at in [
            ("ev-old-done", "done", old_event),  # goes
            ("ev-old-failed", "failed", old_event),  # goes
            ("ev-old-received", "received", old_event),  # never handled: recovery's
            ("ev-year", "done", T0 - timedelta(days=360)),  # inside the stats' window
        ]:
            s.add(
                InboxEvent(
                    platform="slack",
                    event_id=event_id,
                    kind="command",
                    payload="{}",
                    status=status,
                    received_at=at,
                )
            )
    assert a.fire(a.load_specs()["core:prune-events"], T0) == "done"
    with engine.connect() as conn:
        keys = sorted(conn.execute(text("SELECT key FROM outbox_message")).scalars())
        events = sorted(conn.execute(text("SELECT event_id FROM inbox_event")).scalars())
    assert keys == ["ans-old-pending", "ans-recent", "post-old"]
    assert events == ["ev-old-received", "ev-year"]
    assert inbox.waiting(engine, T0)[0] == 1  # the unhandled one is still waiting


def test_prune_events_keeps_as_many_days_as_configured(engine: Engine) -> None:
    from sqlalchemy import text

    from storage.models.core import InboxEvent

    clock = Clock(T0)
    a = _scheduler(engine, clock, "a")
    a.runtime.settings = a.runtime.settings.model_copy(
        update={"copilot_keep_events_days": 10, "copilot_keep_answers_days": 1}
    )
    _lead(a)
    with unit_of_work(engine) as s:
        for n, age in enumerate([timedelta(hours=30)] * 5 + [timedelta(hours=20)]):
            s.add(
                OutboxMessage(
                    key=f"ans-{n}",
                    platform="slack",
                    op="ephemeral",
                    channel_id="C1",
                    payload="{}",
                    status="sent",
                    created_at=T0 - age,
                )
            )
        for n, age in enumerate([timedelta(days=11)] * 7 + [timedelta(days=9)]):
            s.add(
                InboxEvent(
                    platform="slack",
                    event_id=f"ev-{n}",
                    kind="command",
                    payload="{}",
                    status="done",
                    received_at=T0 - age,
                )
            )
    assert a.fire(a.load_specs()["core:prune-events"], T0) == "done"
    with engine.connect() as conn:
        keys = conn.execute(text("SELECT key FROM outbox_message")).scalars().all()
        events = conn.execute(text("SELECT event_id FROM inbox_event")).scalars().all()
    assert keys == ["ans-5"] and events == ["ev-7"]


def test_delete_in_batches_takes_every_matching_row_and_only_those(engine: Engine) -> None:
    from sqlalchemy import text

    from storage.db import delete_in_batches
    from storage.models.core import InboxEvent

    with unit_of_work(engine) as s:
        for n in range(7):
            s.add(
                InboxEvent(
                    platform="slack",
                    event_id=f"ev-{n}",
                    kind="command",
                    payload="{}",
                    status="done" if n != 3 else "received",
                    received_at=T0,
                )
            )
    table = InboxEvent.__table__
    assert delete_in_batches(engine, table, (table.c.status == "done",), batch=2) == 6
    assert delete_in_batches(engine, table, (table.c.status == "done",), batch=2) == 0
    with engine.connect() as conn:
        assert conn.execute(text("SELECT event_id FROM inbox_event")).scalars().all() == ["ev-3"]
