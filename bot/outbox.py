"""Durable, retried, once-only delivery of outgoing messages.

Every outgoing message is a row first (written in the handler's unit of work), then the worker
delivers it: in order per channel, with backoff that honours the platform's `Retry-After`,
surviving chat outages and restarts. A row is claimed with compare-and-set, so replicas never
deliver the same row twice; a crashed sender's lease expires and the row is retried.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, update
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from bot.events import Platform
from bot.messages import Message
from bot.platforms.base import DeliveryError, OutboxOp, PlatformAdapter
from storage.db import unit_of_work
from storage.models.core import OutboxMessage

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 12
LEASE = timedelta(seconds=60)
MARK_SENT_TRIES = 12  # ~48 s of backoff: shorter than LEASE
BACKOFF_BASE = 1.0
BACKOFF_CAP = 300.0


def new_key() -> str:
    return uuid.uuid4().hex


def enqueue(
    session: Session,
    *,
    platform: Platform | str,
    op: str,
    channel_id: str,
    message: Message,
    thread_id: str | None = None,
    thread_key: str | None = None,
    target_key: str | None = None,
    target_ts: str | None = None,
    user_id: str | None = None,
    response_url: str | None = None,
    key: str | None = None,
) -> str:
    """Store one outgoing operation in the caller's transaction; return its key."""
    row = OutboxMessage(
        key=key or new_key(),
        platform=str(platform),
        op=op,
        channel_id=channel_id,
        thread_id=thread_id,
        thread_key=thread_key,
        target_key=target_key,
        target_ts=target_ts,
        user_id=user_id,
        response_url=response_url,
        payload=message.model_dump_json(),
    )
    session.add(row)
    session.flush()
    return row.key


def depth(session: Session) -> int:
    """Messages not delivered yet (pending or being sent)."""
    stmt = select(func.count()).select_from(OutboxMessage)
    return int(session.exec(stmt.where(OutboxMessage.status.in_(["pending", "sending"]))).one())


def oldest_pending_age(session: Session, now: datetime) -> float:
    stmt = select(func.min(OutboxMessage.created_at)).where(
        OutboxMessage.status.in_(["pending", "sending"])
    )
    oldest = session.exec(stmt).one()
    return max(0.0, (now - oldest).total_seconds()) if oldest else 0.0


def find(session: Session, key: str) -> OutboxMessage | None:
    return session.exec(select(OutboxMessage).where(OutboxMessage.key == key)).first()


@dataclass
class Claimed:
    row_id: int
    op: OutboxOp
    platform: str
    attempts: int


def claim_due(
    engine: Engine, platforms: set[str], *, now: datetime, limit: int = 50
) -> list[Claimed]:
    """Claim deliverable rows in id order, keeping order per channel and per referenced row."""
    with unit_of_work(engine) as s:
        # Rows whose sender died come back.
        s.exec(
            update(OutboxMessage)
            .where(OutboxMessage.status == "sending", OutboxMessage.lease_until < now)
            .values(status="pending")
        )
        rows = s.exec(
            select(OutboxMessage)
            .where(OutboxMessage.status.in_(["pending", "sending"]))
            .where(OutboxMessage.platform.in_(platforms))
            .order_by(OutboxMessage.id)
            .limit(limit * 4)
        ).all()
        keys = {r.key for r in rows}
        blocked: set[str] = set()
        claimed: list[Claimed] = []
        for row in rows:
            chan = f"{row.platform}:{row.channel_id}"
            waits_for = {k for k in (row.thread_key, row.target_key) if k}
            if chan in blocked or (waits_for & keys):
                blocked.add(chan)
                keys.add(row.key)
                continue
            if row.status != "pending" or row.next_attempt_at > now:
                blocked.add(chan)
                continue
            thread_ts = row.thread_id or _resolve(s, row.thread_key)
            target_ts = row.target_ts or _resolve(s, row.target_key)
            if (row.thread_key and not thread_ts) or (row.target_key and not target_ts):
                _fail(s, row, "the message it refers to was never delivered")
                continue
            won = s.exec(
                update(OutboxMessage)
                .where(OutboxMessage.id == row.id, OutboxMessage.status == "pending")
                .values(status="sending", lease_until=now + LEASE, attempts=row.attempts + 1)
            ).rowcount
            if not won:
                blocked.add(chan)
                continue
            op = OutboxOp(
                key=row.key,
                op=row.op,
                channel_id=row.platform_channel or row.channel_id,
                message=Message.model_validate_json(row.payload),
                thread_ts=thread_ts,
                target_ts=target_ts,
                user_id=row.user_id,
                response_url=row.response_url,
            )
            claimed.append(Claimed(row.id or 0, op, row.platform, row.attempts + 1))
            if len(claimed) >= limit:
                break
        return claimed


def _resolve(session: Session, key: str | None) -> str | None:
    if not key:
        return None
    ref = find(session, key)
    if ref is None or ref.status != "sent":
        return None
    return ref.platform_ts


def _fail(session: Session, row: OutboxMessage, reason: str) -> None:
    row.status = "failed"
    row.last_error = reason
    session.add(row)


def mark_sent(engine: Engine, row_id: int, *, ts: str | None, channel: str | None) -> None:
    with unit_of_work(engine) as s:
        s.exec(
            update(OutboxMessage)
            .where(OutboxMessage.id == row_id, OutboxMessage.status == "sending")
            .values(
                status="sent",
                platform_ts=ts,
                platform_channel=channel,
                sent_at=datetime.now(UTC),
                lease_until=None,
            )
        )


def mark_retry(engine: Engine, claimed: Claimed, error: DeliveryError, *, now: datetime) -> str:
    """Schedule the next attempt (or give up); returns the new status."""
    if error.permanent or claimed.attempts >= MAX_ATTEMPTS:
        status, when = "failed", now
    else:
        delay = error.retry_after
        if delay is None:
            delay = min(BACKOFF_CAP, BACKOFF_BASE * 2 ** (claimed.attempts - 1))
            delay *= random.uniform(0.8, 1.2)
        status, when = "pending", now + timedelta(seconds=delay)
    with unit_of_work(engine) as s:
        s.exec(
            update(OutboxMessage)
            .where(OutboxMessage.id == claimed.row_id, OutboxMessage.status == "sending")
            .values(status=status, next_attempt_at=when, last_error=error.reason[:2000])
        )
    return status


class OutboxWorker:
    """Delivers due rows for the platforms this process serves; woken on every enqueue."""

    def __init__(
        self,
        engine: Engine,
        adapters: Mapping[str, PlatformAdapter],
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        idle_poll: float = 1.0,
        on_result: Callable[[str, str], None] | None = None,
    ) -> None:
        self.engine = engine
        self.adapters = dict(adapters)
        self.clock = clock
        self.idle_poll = idle_poll
        self.on_result = on_result
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping = False

    def wake(self) -> None:
        """Thread-safe: ask the worker to look for due rows now."""
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._wake.set)

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._task = asyncio.create_task(self._run(), name="outbox")

    async def stop(self) -> None:
        # The flag, not the cancel alone, ends the loop: on Python 3.11 a cancel that lands
        # while the awaited wake-up completes can be swallowed (wait_for, gh-86296), and
        # then `await task` never returned (a CI run hung in teardown).
        self._stopping = True
        if self._task:
            self._task.cancel()
            self._wake.set()
            done, _ = await asyncio.wait({self._task}, timeout=10)
            if not done:
                log.error("outbox worker did not stop within 10 s; abandoning it")
            self._task = None

    async def _run(self) -> None:
        while not self._stopping:
            try:
                n = await self.drain_once()
            except asyncio.CancelledError:
                raise
            except Exception:  # a DB outage: log, back off, keep going
                log.exception("outbox worker error")
                n = 0
            if n == 0 and not self._stopping:
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self.idle_poll):
                        await self._wake.wait()

    async def drain_once(self) -> int:
        """Deliver one batch of due rows; return how many were attempted."""
        claimed = await asyncio.to_thread(
            claim_due, self.engine, set(self.adapters), now=self.clock()
        )
        for item in claimed:
            await self._deliver(item)
        return len(claimed)

    async def _deliver(self, item: Claimed) -> None:
        adapter = self.adapters[item.platform]
        try:
            result = await adapter.deliver(item.op)
        except DeliveryError as exc:
            status = await asyncio.to_thread(mark_retry, self.engine, item, exc, now=self.clock())
            log.warning(
                "delivery failed",
                extra={"key": item.op.key, "status": status, "reason": exc.reason},
            )
            if self.on_result:
                self.on_result(item.platform, status)
            return
        except Exception as exc:  # an adapter bug must not kill the worker
            log.exception("delivery crashed")
            err = DeliveryError(f"{type(exc).__name__}: {exc}")
            status = await asyncio.to_thread(mark_retry, self.engine, item, err, now=self.clock())
            if self.on_result:
                self.on_result(item.platform, status)
            return
        # Delivered: record it even if the database blips now, or the lease would expire and
        # the row be sent a second time (bounded well within the lease).
        for attempt in range(MARK_SENT_TRIES):
            try:
                await asyncio.to_thread(
                    mark_sent, self.engine, item.row_id, ts=result.ts, channel=result.channel_id
                )
                break
            except Exception:
                if attempt == MARK_SENT_TRIES - 1 or self._stopping:
                    raise
                log.warning("could not record a delivery; retrying", extra={"key": item.op.key})
                await asyncio.sleep(min(0.5 * 2**attempt, 5.0))
        if self.on_result:
            self.on_result(item.platform, "sent")
