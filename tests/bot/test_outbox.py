"""Outbox: stored first, delivered in order, retried with backoff, once, across restarts.

The chat side here is a scripted platform (an outside system, not the code under test);
the end-to-end version against the fake Slack Web API is in tests/platforms.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from sqlalchemy import event as sa_event
from sqlalchemy.engine import Engine
from sqlmodel import select

from bot import outbox
from bot.events import Platform
from bot.messages import Message
from bot.outbox import OutboxWorker
from bot.platforms.base import Delivered, DeliveryError, OutboxOp
from storage.db import unit_of_work
from storage.models.core import OutboxMessage


class ScriptedChat:
    """A chat platform whose next answers are scripted: errors first, then success."""

    platform = Platform.SLACK

    def __init__(self, failures: list[DeliveryError] | None = None) -> None:
        self.failures = list(failures or [])
        self.delivered: list[tuple[str, str, str | None, str | None]] = []
        self.n = 0

    async def close_outbound(self) -> None:
        return None

    async def deliver(self, op: OutboxOp) -> Delivered:
        if self.failures:
            raise self.failures.pop(0)
        self.n += 1
        ts = f"{self.n}.000"
        self.delivered.append((op.op, op.message.text, op.thread_ts, op.target_ts))
        return Delivered(ts=ts, channel_id=op.channel_id)


class Clock:
    def __init__(self) -> None:
        self.now = datetime.now(UTC) + timedelta(seconds=1)

    def __call__(self) -> datetime:
        return self.now


def _enqueue(engine: Engine, text: str, **kw: object) -> str:
    with unit_of_work(engine) as s:
        return outbox.enqueue(
            s,
            platform="slack",
            op=str(kw.pop("op", "post")),
            channel_id="C1",
            message=Message.plain(text),
            **kw,  # type: ignore[arg-type]
        )


async def test_outage_then_429_then_up_delivers_each_once(engine: Engine) -> None:
    chat = ScriptedChat([DeliveryError("slack 503"), DeliveryError("slack 429", retry_after=30)])
    clock = Clock()
    worker = OutboxWorker(engine, {"slack": chat}, clock=clock)
    first = _enqueue(engine, "one")
    _enqueue(engine, "two", thread_key=first)
    _enqueue(engine, "one edited", op="update", target_key=first)

    assert await worker.drain_once() == 1  # 503: backoff
    assert await worker.drain_once() == 0  # not due yet, and "two" waits behind "one"
    clock.now += timedelta(seconds=5)
    assert await worker.drain_once() == 1  # 429 with Retry-After: 30
    clock.now += timedelta(seconds=10)
    assert await worker.drain_once() == 0  # Retry-After honoured
    clock.now += timedelta(seconds=25)
    while await worker.drain_once():
        pass
    assert chat.delivered == [
        ("post", "one", None, None),
        ("post", "two", "1.000", None),  # threaded under the delivered first message
        ("update", "one edited", None, "1.000"),
    ]
    with unit_of_work(engine) as s:
        rows = s.exec(select(OutboxMessage).order_by(OutboxMessage.id)).all()
        assert [r.status for r in rows] == ["sent", "sent", "sent"]
        assert rows[0].attempts == 3


async def test_restart_between_attempts_loses_nothing(engine: Engine) -> None:
    clock = Clock()
    _enqueue(engine, "survives")
    first = OutboxWorker(engine, {"slack": ScriptedChat([DeliveryError("down")])}, clock=clock)
    await first.drain_once()
    # a new process: a new worker on the same database
    clock.now += timedelta(minutes=5)
    chat = ScriptedChat()
    second = OutboxWorker(engine, {"slack": chat}, clock=clock)
    await second.drain_once()
    assert [d[1] for d in chat.delivered] == ["survives"]
    assert await second.drain_once() == 0


async def test_crashed_sender_lease_expires(engine: Engine) -> None:
    clock = Clock()
    _enqueue(engine, "orphan")
    claimed = outbox.claim_due(engine, {"slack"}, now=clock.now)
    assert len(claimed) == 1  # the sender then dies without marking anything
    assert outbox.claim_due(engine, {"slack"}, now=clock.now) == []
    clock.now += outbox.LEASE + timedelta(seconds=1)
    chat = ScriptedChat()
    await OutboxWorker(engine, {"slack": chat}, clock=clock).drain_once()
    assert [d[1] for d in chat.delivered] == ["orphan"]


async def test_two_workers_never_deliver_a_row_twice(engine: Engine) -> None:
    for i in range(40):
        _enqueue(engine, f"m{i}")
    a, b = ScriptedChat(), ScriptedChat()
    wa, wb = OutboxWorker(engine, {"slack": a}), OutboxWorker(engine, {"slack": b})
    for _ in range(30):
        await asyncio.gather(wa.drain_once(), wb.drain_once())
    texts = [d[1] for d in a.delivered + b.delivered]
    assert sorted(texts) == sorted(f"m{i}" for i in range(40))
    assert len(texts) == len(set(texts))


async def test_permanent_error_fails_without_blocking_others(engine: Engine) -> None:
    chat = ScriptedChat([DeliveryError("channel_not_found", permanent=True)])
    _enqueue(engine, "bad")
    _enqueue(engine, "good")
    worker = OutboxWorker(engine, {"slack": chat})
    while await worker.drain_once():
        pass
    assert [d[1] for d in chat.delivered] == ["good"]
    with unit_of_work(engine) as s:
        assert outbox.depth(s) == 0


async def test_stop_returns_when_a_wake_up_races_the_cancel(engine: Engine) -> None:
    """A wake-up landing in the same loop turn as stop() must not keep the worker alive.

    On Python 3.11 `asyncio.wait_for` swallows a cancel that arrives as the awaited future
    completes; the worker then looped forever and a CI teardown hung for 300 s.
    """
    for turns in range(6):
        worker = OutboxWorker(engine, {}, idle_poll=0.05)
        await worker.start()
        await asyncio.sleep(0.1)  # idle: parked in the wake-up wait
        worker.wake()
        for _ in range(turns):
            await asyncio.sleep(0)
        task = worker._task
        assert task is not None
        stopping = asyncio.create_task(worker.stop())
        done, _ = await asyncio.wait({stopping}, timeout=15)  # a liveness bound, not a timing
        assert done and task.done(), f"stop() hung (wake-up {turns} loop turns before it)"


async def test_a_row_another_replica_claimed_holds_back_the_rest_of_its_channel(
    engine: Engine,
) -> None:
    """Between our candidate SELECT and our claiming UPDATE another replica takes the first
    row of a channel: we must not send that channel's later rows ahead of it."""
    if engine.dialect.name != "postgresql":
        return  # SQLite: the claim's first write locks the file; no replica can interleave
    from sqlalchemy import event, update
    from sqlalchemy.engine import Connection

    first = _enqueue(engine, "one")
    _enqueue(engine, "two")
    with unit_of_work(engine) as s:
        outbox.enqueue(
            s, platform="slack", op="post", channel_id="C2", message=Message.plain("other")
        )
    other = engine.connect()
    done: list[bool] = []

    def competitor(conn: Connection, cursor: object, statement: str, *args: object) -> None:
        if done or "RETURNING" not in statement or not statement.lstrip().startswith("UPDATE"):
            return
        done.append(True)
        with other.begin():
            other.execute(
                update(OutboxMessage)
                .where(OutboxMessage.key == first)
                .values(status="sending", lease_until=datetime.now(UTC) + timedelta(minutes=1))
            )

    event.listen(engine, "before_cursor_execute", competitor)
    try:
        claimed = outbox.claim_due(engine, {"slack"}, now=datetime.now(UTC) + timedelta(seconds=1))
    finally:
        event.remove(engine, "before_cursor_execute", competitor)
        other.close()
    assert done
    assert [c.op.message.text for c in claimed] == ["other"]  # C1's "two" waits for "one"
    with unit_of_work(engine) as s:
        two = s.exec(select(OutboxMessage).where(OutboxMessage.channel_id == "C1")).all()
        states = sorted((r.key == first, r.status, r.attempts) for r in two)
    assert states == [(False, "pending", 0), (True, "sending", 0)]


async def test_a_burst_of_wake_ups_is_claimed_in_one_transaction(engine: Engine) -> None:
    """Messages enqueued one by one, each waking the worker, within the coalescing window:
    the worker claims them together (one claim, not one per message), in order."""
    chat = ScriptedChat()
    worker = OutboxWorker(engine, {"slack": chat}, coalesce=0.2)
    claims: list[int] = []

    def claimed(conn: object, cursor: object, statement: str, *_: object) -> None:
        if statement.lstrip().upper().startswith("UPDATE") and "attempts" in statement:
            claims.append(1)  # the claim (status 'sending', attempts + 1)

    await worker.start()
    try:
        await asyncio.sleep(0.05)  # the worker is idle, waiting for a wake-up
        sa_event.listen(engine, "before_cursor_execute", claimed)
        for n in range(5):
            _enqueue(engine, f"m{n}")
            worker.wake()
        for _ in range(100):
            if len(chat.delivered) == 5:
                break
            await asyncio.sleep(0.02)
    finally:
        await worker.stop()
    assert [text for _op, text, _t, _g in chat.delivered] == [f"m{n}" for n in range(5)]
    assert len(claims) == 1
