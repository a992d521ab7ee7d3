"""SQLite: the acknowledgement's insert on its own connection, waiting for other writers without
SQLite's sleeping busy handler, and never recording half an event."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import exc as sa_exc
from sqlalchemy import text
from sqlalchemy.engine import Engine

from bot import inbox
from bot.events import Actor, ChannelRef, Event, EventKind, Platform
from storage.db import make_engine, unit_of_work
from storage.models.core import InboxEvent


def _event(n: int) -> Event:
    return Event(
        platform=Platform.SLACK,
        kind=EventKind.COMMAND,
        event_id=f"rec-{n}",
        actor=Actor(id="U1"),
        channel=ChannelRef(platform=Platform.SLACK, id="C1"),
        command="copilot",
        text="help",
    )


@pytest.fixture
def recorder(sqlite_engine: Engine) -> Iterator[inbox.SqliteRecorder]:
    rec = inbox.SqliteRecorder(sqlite_engine)
    yield rec
    rec.close()


def _other_process_lock(engine: Engine) -> sqlite3.Connection:
    """A connection outside the engine (as another process's would be) holding the write lock."""
    conn = sqlite3.connect(engine.url.database or "", isolation_level=None, timeout=0)
    conn.execute("BEGIN IMMEDIATE")
    conn.execute("UPDATE inbox_event SET id = id WHERE id = -1")
    return conn


def test_records_once_and_the_orm_reads_the_row_back(
    sqlite_engine: Engine, recorder: inbox.SqliteRecorder
) -> None:
    assert inbox.SqliteRecorder.fits(sqlite_engine)
    before = datetime.now(UTC)
    assert recorder.record(_event(1))
    assert not recorder.record(_event(1))  # a retry of the same delivery
    assert not inbox.record(sqlite_engine, _event(1))  # one dedupe key with the engine's path
    with unit_of_work(sqlite_engine) as s:
        row = s.get(InboxEvent, 1)
        assert row is not None and row.status == "received" and row.kind == "command"
        assert Event.model_validate_json(row.payload).text == "help"
        received = row.received_at.replace(tzinfo=UTC)  # SQLite keeps naive UTC, as the ORM does
    assert before - timedelta(seconds=1) < received <= datetime.now(UTC)
    # the text form sorts and compares like the ORM's: the age queries see it
    count, age = inbox.waiting(sqlite_engine, datetime.now(UTC) + timedelta(seconds=10))
    assert count == 1 and 9 < age < 12
    later = inbox.stranded(sqlite_engine, older_than=timedelta(seconds=-10))
    assert [e.event_id for e in later] == ["rec-1"]


def test_waits_for_another_process_s_write_lock_then_records(
    sqlite_engine: Engine, recorder: inbox.SqliteRecorder
) -> None:
    holder = _other_process_lock(sqlite_engine)
    released = threading.Event()
    with ThreadPoolExecutor(1) as pool:
        pending = pool.submit(lambda: (recorder.record(_event(2)), released.is_set()))
        assert not pending.done()  # in SQLite terms it is busy: it waits, it does not fail
        threading.Event().wait(0.05)
        assert not pending.done()
        released.set()
        holder.execute("COMMIT")
        new, after_release = pending.result(timeout=5)
    holder.close()
    assert new and after_release
    assert inbox.waiting(sqlite_engine, datetime.now(UTC))[0] == 1


def test_a_lock_held_past_the_timeout_fails_the_insert_and_records_nothing(
    sqlite_engine: Engine, recorder: inbox.SqliteRecorder, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(inbox, "RECORD_TIMEOUT", 0.1)
    holder = _other_process_lock(sqlite_engine)
    try:
        with pytest.raises(sa_exc.OperationalError, match="locked"):
            recorder.record(_event(3))
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert inbox.waiting(sqlite_engine, datetime.now(UTC))[0] == 0
    assert recorder.record(_event(3))  # the same delivery, retried by the platform, goes in


def test_goes_ahead_of_this_process_s_queued_writers_but_not_into_their_transaction(
    sqlite_engine: Engine, recorder: inbox.SqliteRecorder
) -> None:
    order: list[str] = []
    in_txn, finish = threading.Event(), threading.Event()

    def handler_transaction() -> None:
        with sqlite_engine.begin() as conn:
            conn.execute(text("UPDATE inbox_event SET id = id WHERE id = -1"))  # takes the gate
            in_txn.set()
            finish.wait(5)
            order.append("handler committed")

    def record() -> None:
        assert recorder.record(_event(4))
        order.append("recorded")

    with ThreadPoolExecutor(2) as pool:
        first = pool.submit(handler_transaction)
        assert in_txn.wait(5)
        second = pool.submit(record)
        threading.Event().wait(0.05)
        assert not second.done()  # the handler's transaction holds the write gate
        finish.set()
        first.result(timeout=5)
        second.result(timeout=5)
    assert order == ["handler committed", "recorded"]


def test_not_for_an_in_memory_database() -> None:
    engine = make_engine("sqlite://")
    try:
        assert not inbox.SqliteRecorder.fits(engine)
    finally:
        engine.dispose()
