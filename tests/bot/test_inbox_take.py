"""Worker processes take recorded events from the inbox: each event goes to one taker."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import psycopg
import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine

from bot import inbox
from bot.dispatch import STORAGE_DOWN
from bot.events import Actor, ChannelRef, Event, EventKind, Platform
from storage.db import make_engine


def _event(n: int) -> Event:
    return Event(
        platform=Platform.SLACK,
        kind=EventKind.COMMAND,
        event_id=f"take-{n}",
        actor=Actor(id="U1"),
        channel=ChannelRef(platform=Platform.SLACK, id="C1"),
        command="/copilot",
        text="help",
    )


def _statuses(engine: Engine) -> dict[str, str]:
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT event_id, status FROM inbox_event")).all()
    return {event_id: status for event_id, status in rows}


def test_take_returns_oldest_first_and_marks_them_processing(engine: Engine) -> None:
    assert inbox.take(engine, limit=10) == []
    for n in range(5):
        assert inbox.record(engine, _event(n))
    taken = inbox.take(engine, limit=3)
    assert [e.event_id for e in taken] == ["take-0", "take-1", "take-2"]
    assert taken[0].text == "help" and taken[0].command == "/copilot"
    statuses = _statuses(engine)
    assert [statuses[f"take-{n}"] for n in range(5)] == ["processing"] * 3 + ["received"] * 2


def test_take_skips_an_event_claimed_by_an_in_process_handler(engine: Engine) -> None:
    for n in range(3):
        inbox.record(engine, _event(n))
    with engine.begin() as conn:
        assert inbox.claim(conn, _event(1))
    assert [e.event_id for e in inbox.take(engine, limit=10)] == ["take-0", "take-2"]
    with engine.begin() as conn:  # and the other way round: a taken event is not claimable
        assert not inbox.claim(conn, _event(0))


def test_concurrent_takers_never_get_the_same_event(engine: Engine) -> None:
    total = 120
    for n in range(total):
        inbox.record(engine, _event(n))

    def drain() -> list[str]:
        got: list[str] = []
        while batch := inbox.take(engine, limit=7):
            got += [e.event_id for e in batch]
        return got

    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda _: drain(), range(4)))
    every = [event_id for got in results for event_id in got]
    assert len(every) == total and len(set(every)) == total
    assert set(_statuses(engine).values()) == {"processing"}


async def test_async_recorder_writes_what_the_sync_path_writes(pg_engine: Engine) -> None:
    """PostgreSQL acknowledgements record on the event loop; the row must be the same."""
    recorder = inbox.AsyncRecorder(pg_engine)
    await recorder.open()
    try:
        assert await recorder.record(_event(1))
        assert not await recorder.record(_event(1))  # a retry of the same delivery
        assert inbox.record(pg_engine, _event(2))
        assert not inbox.record(pg_engine, _event(1))  # both paths share one dedupe key
        assert not await recorder.record(_event(2))
    finally:
        await recorder.close()
    with pg_engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT event_id, kind, status, payload, received_at, "
                "abs(extract(epoch from (received_at - (now() at time zone 'utc')))) "
                "FROM inbox_event ORDER BY id"
            )
        ).all()
    assert [(r[0], r[1], r[2]) for r in rows] == [
        ("take-1", "command", "received"),
        ("take-2", "command", "received"),
    ]
    assert Event.model_validate_json(rows[0][3]) == _event(1)
    assert all(r[5] < 60 for r in rows), "received_at stored in UTC by both paths"
    assert [e.event_id for e in inbox.take(pg_engine, limit=5)] == ["take-1", "take-2"]


async def test_async_recorder_fails_fast_when_postgres_is_unreachable(pg_engine: Engine) -> None:
    url = pg_engine.url.set(port=1)  # nothing listens there
    dead = make_engine(url.render_as_string(hide_password=False))
    recorder = inbox.AsyncRecorder(dead)
    await recorder.open()
    try:
        with pytest.raises(STORAGE_DOWN) as caught:
            await recorder.record(_event(3))
        assert isinstance(caught.value, psycopg.OperationalError)
    finally:
        await recorder.close()
        dead.dispose()


async def test_a_nul_in_an_event_is_dropped_before_postgresql_sees_it(pg_engine: Engine) -> None:
    """PostgreSQL text rejects NUL: the acknowledgement scrubs it (found in the payload JSON,
    which is serialized once), the row keeps the rest of the text, nothing fails."""
    from bot.platforms.base import scrubbed_json

    plain = _event(40)
    same, payload = scrubbed_json(plain)
    assert same is plain and payload == plain.model_dump_json()  # nothing to scrub: no walk
    dirty = plain.model_copy(update={"event_id": "take-41", "text": "he\x00lp \\u0000 kept"})
    clean, payload = scrubbed_json(dirty)
    assert clean.text == "help \\u0000 kept" and "\x00" not in payload
    recorder = inbox.AsyncRecorder(pg_engine)
    await recorder.open()
    try:
        assert await recorder.record(clean, payload)
    finally:
        await recorder.close()
    with pg_engine.connect() as conn:
        stored = conn.execute(
            text("SELECT payload FROM inbox_event WHERE event_id = 'take-41'")
        ).scalar_one()
    assert Event.model_validate_json(stored).text == "help \\u0000 kept"


async def test_an_ingress_notifies_listening_workers_of_new_events_only(pg_engine: Engine) -> None:
    """Workers LISTEN instead of polling: a new event recorded by an ingress wakes them; a
    duplicate delivery, or a one-process recorder (nobody listens), does not."""
    import asyncio

    woke = asyncio.Event()
    listener = asyncio.create_task(inbox.listen(pg_engine, woke.set))
    notifying = inbox.AsyncRecorder(pg_engine, notify=True)
    plain = inbox.AsyncRecorder(pg_engine)
    await notifying.open()
    await plain.open()
    try:
        await asyncio.wait_for(woke.wait(), 10)  # listening now (it wakes once on LISTEN)
        woke.clear()
        assert await plain.record(_event(50))
        await asyncio.sleep(0.5)
        assert not woke.is_set()
        assert await notifying.record(_event(51))
        await asyncio.wait_for(woke.wait(), 10)
        woke.clear()
        assert not await notifying.record(_event(51))  # a retry of the same delivery
        await asyncio.sleep(0.5)
        assert not woke.is_set()
        assert _statuses(pg_engine)["take-51"] == "received"
    finally:
        listener.cancel()
        await notifying.close()
        await plain.close()
