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
from typing import Any

from sqlalchemy import bindparam, func, insert, update
from sqlalchemy import select as sa_select
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.sql.dml import Insert
from sqlmodel import Session, select

from bot.events import Platform
from bot.messages import Message
from bot.platforms.base import DeliveryError, OutboxOp, PlatformAdapter
from storage.db import (
    PRUNE_BATCH,
    PgStatement,
    as_utc,
    delete_in_batches,
    is_postgres,
    pg_autocommit,
)
from storage.models.core import OutboxMessage

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 12
LEASE = timedelta(seconds=60)
LEASE_CHECK = timedelta(seconds=5)
COALESCE = 0.005  # s the worker waits after a wake-up before it claims (bursts share a claim)
MARK_SENT_TRIES = 12  # ~48 s of backoff: shorter than LEASE
BACKOFF_BASE = 1.0
BACKOFF_CAP = 300.0


def new_key() -> str:
    return uuid.uuid4().hex


_COLUMNS = (
    "key",
    "platform",
    "op",
    "channel_id",
    "thread_id",
    "thread_key",
    "target_key",
    "target_ts",
    "user_id",
    "response_url",
    "payload",
    "status",
    "attempts",
    "lease_until",
)
_ENQUEUE = insert(OutboxMessage.__table__).values({name: bindparam(name) for name in _COLUMNS})


def insert_rows(n: int) -> Insert:
    """An INSERT of `n` new rows, bind parameters `<column>_<i>` and `p_now` (the row's
    creation time): for a statement that stores answers with something else."""
    times = {"created_at": bindparam("p_now"), "next_attempt_at": bindparam("p_now")}
    return insert(OutboxMessage.__table__).values(
        [{name: bindparam(f"{name}_{i}") for name in _COLUMNS} | times for i in range(n)]
    )


def row_values(
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
    claimed_until: datetime | None = None,
) -> dict[str, Any]:
    """The stored form of one outgoing operation (a new key unless given).

    `claimed_until`: stored as being sent by the caller, leased until then (the caller
    delivers it right after its commit; if it dies, the lease runs out and the worker does).
    """
    return {
        "status": "sending" if claimed_until else "pending",
        "attempts": 1 if claimed_until else 0,
        "lease_until": claimed_until,
        "key": key or new_key(),
        "platform": str(platform),
        "op": op,
        "channel_id": channel_id,
        "thread_id": thread_id,
        "thread_key": thread_key,
        "target_key": target_key,
        "target_ts": target_ts,
        "user_id": user_id,
        "response_url": response_url,
        "payload": message.model_dump_json(),
    }


def store(conn: Connection, rows: list[dict[str, Any]]) -> None:
    """Insert rows made by `row_values` in the caller's transaction."""
    if rows:
        conn.execute(_ENQUEUE, rows)


def enqueue(
    session: Session | Connection,
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
    claimed_until: datetime | None = None,
) -> str:
    """Store one outgoing operation in the caller's transaction; return its key."""
    values = row_values(
        platform=platform,
        op=op,
        channel_id=channel_id,
        message=message,
        thread_id=thread_id,
        thread_key=thread_key,
        target_key=target_key,
        target_ts=target_ts,
        user_id=user_id,
        response_url=response_url,
        key=key,
        claimed_until=claimed_until,
    )
    # A prebuilt Core INSERT: no ORM object to build and flush (every reply takes this path).
    session.execute(_ENQUEUE, values)
    return str(values["key"])


def depth(session: Session) -> int:
    """Messages not delivered yet (pending or being sent)."""
    stmt = select(func.count()).select_from(OutboxMessage)
    return int(session.exec(stmt.where(OutboxMessage.status.in_(["pending", "sending"]))).one())


def prune_answers(engine: Engine, *, before: datetime, batch: int = PRUNE_BATCH) -> int:
    """Forget private answers (`ephemeral`, the bulk of the outbox) delivered or given up on
    before `before`; returns how many. Channel posts stay: later messages thread under them or
    update them by their key."""
    t = OutboxMessage.__table__
    where = (t.c.op == "ephemeral", t.c.status.in_(["sent", "failed"]), t.c.created_at < before)
    return delete_in_batches(engine, t, where, batch)


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


_T = OutboxMessage.__table__
_EXPIRE_LEASES = (
    update(_T)
    .where(_T.c.status == "sending", _T.c.lease_until < bindparam("now"))
    .values(status="pending")
)
_CANDIDATES = (
    sa_select(_T)
    .where(
        _T.c.status.in_(["pending", "sending"]),
        _T.c.platform.in_(bindparam("platforms", expanding=True)),
    )
    .order_by(_T.c.id)
    .limit(bindparam("n"))
)


def claim_due(
    engine: Engine,
    platforms: set[str],
    *,
    now: datetime,
    limit: int = 50,
    expire_leases: bool = True,
) -> list[Claimed]:
    """Claim deliverable rows in id order, keeping order per channel and per referenced row.

    One SELECT of candidates, one UPDATE ... RETURNING that claims them (compare-and-set on
    `status = 'pending'`); a row another replica won blocks the rest of its channel.
    """
    t, c = _T, _T.c  # the module's table (statements above are built on it)
    with engine.begin() as conn:
        if expire_leases:  # rows whose sender died come back
            conn.execute(_EXPIRE_LEASES, {"now": now})
        rows = conn.execute(_CANDIDATES, {"platforms": sorted(platforms), "n": limit * 4}).all()
        keys = {r.key for r in rows}
        refs = _sent_ts(conn, {k for r in rows for k in (r.thread_key, r.target_key) if k})
        blocked: set[str] = set()
        candidates: list[tuple[Any, str | None, str | None]] = []
        failed: list[int] = []
        for row in rows:
            chan = f"{row.platform}:{row.channel_id}"
            waits_for = {k for k in (row.thread_key, row.target_key) if k}
            if chan in blocked or (waits_for & keys):
                blocked.add(chan)
                keys.add(row.key)
                continue
            if row.status != "pending" or as_utc(row.next_attempt_at) > now:
                blocked.add(chan)
                continue
            thread_ts = row.thread_id or refs.get(row.thread_key or "")
            target_ts = row.target_ts or refs.get(row.target_key or "")
            if (row.thread_key and not thread_ts) or (row.target_key and not target_ts):
                failed.append(row.id)
                continue
            candidates.append((row, thread_ts, target_ts))
            if len(candidates) >= limit:
                break
        if failed:
            conn.execute(
                update(t)
                .where(c.id.in_(failed))
                .values(status="failed", last_error="the message it refers to was never delivered")
            )
        if not candidates:
            return []
        won = set(
            conn.execute(
                update(t)
                .where(c.id.in_([r.id for r, _, _ in candidates]), c.status == "pending")
                .values(status="sending", lease_until=now + LEASE, attempts=c.attempts + 1)
                .returning(c.id)
            ).scalars()
        )
        claimed: list[Claimed] = []
        release: list[int] = []
        lost: set[str] = set()
        for row, thread_ts, target_ts in candidates:
            chan = f"{row.platform}:{row.channel_id}"
            if row.id not in won or chan in lost:
                lost.add(chan)  # another replica has an earlier row of this channel
                if row.id in won:
                    release.append(row.id)
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
            claimed.append(Claimed(row.id, op, row.platform, row.attempts + 1))
        if release:
            conn.execute(
                update(t)
                .where(c.id.in_(release), c.status == "sending")
                .values(status="pending", lease_until=None, attempts=c.attempts - 1)
            )
        return claimed


def _sent_ts(conn: Connection, keys: set[str]) -> dict[str, str]:
    """Platform ts of the referenced rows that were delivered."""
    if not keys:
        return {}
    c = OutboxMessage.__table__.c
    found = conn.execute(
        sa_select(c.key, c.platform_ts).where(c.key.in_(keys), c.status == "sent")
    ).all()
    return {k: ts for k, ts in found if ts}


def _sent(which: Any) -> Any:
    """UPDATE a row being sent (`which`) to sent, with the platform's ts and channel."""
    return (
        update(_T)
        .where(which, _T.c.status == "sending")
        .values(
            status="sent",
            platform_ts=bindparam("ts"),
            platform_channel=bindparam("channel"),
            sent_at=bindparam("now"),
            lease_until=None,
        )
    )


_MARK_SENT = _sent(_T.c.id == bindparam("row_id"))  # a row the worker claimed
_MARK_SENT_KEY = _sent(_T.c.key == bindparam("p_key"))  # a row its writer claimed
_PG_MARK_SENT, _PG_MARK_SENT_KEY = PgStatement(_MARK_SENT), PgStatement(_MARK_SENT_KEY)


def _record_sent(engine: Engine, stmt: Any, pg: PgStatement, params: dict[str, Any]) -> None:
    params["now"] = datetime.now(UTC)
    if is_postgres(engine):  # one autocommitted statement, no BEGIN/COMMIT round trips
        with pg_autocommit(engine) as conn:
            pg.run(conn, params)
        return
    with engine.begin() as conn:
        conn.execute(stmt, params)


def mark_sent(engine: Engine, row_id: int, *, ts: str | None, channel: str | None) -> None:
    _record_sent(
        engine, _MARK_SENT, _PG_MARK_SENT, {"row_id": row_id, "ts": ts, "channel": channel}
    )


def mark_sent_key(engine: Engine, key: str, *, ts: str | None, channel: str | None) -> None:
    """`mark_sent` for a row its writer claimed (`claimed_until`) and delivered itself."""
    _record_sent(
        engine, _MARK_SENT_KEY, _PG_MARK_SENT_KEY, {"p_key": key, "ts": ts, "channel": channel}
    )


def _next_attempt(attempts: int, error: DeliveryError, now: datetime) -> tuple[str, datetime]:
    if error.permanent or attempts >= MAX_ATTEMPTS:
        return "failed", now
    delay = error.retry_after
    if delay is None:
        delay = min(BACKOFF_CAP, BACKOFF_BASE * 2 ** (attempts - 1))
        delay *= random.uniform(0.8, 1.2)
    return "pending", now + timedelta(seconds=delay)


def mark_retry(
    engine: Engine,
    claimed: Claimed | str,
    error: DeliveryError,
    *,
    now: datetime,
) -> str:
    """Schedule the next attempt (or give up); returns the new status.

    `claimed`: a row the worker claimed, or the key of a row its writer claimed (first attempt).
    """
    attempts = claimed.attempts if isinstance(claimed, Claimed) else 1
    status, when = _next_attempt(attempts, error, now)
    which = _T.c.id == claimed.row_id if isinstance(claimed, Claimed) else _T.c.key == claimed
    with engine.begin() as conn:
        conn.execute(
            update(_T)
            .where(which, _T.c.status == "sending")
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
        coalesce: float = COALESCE,
        on_result: Callable[[str, str], None] | None = None,
    ) -> None:
        self.engine = engine
        self.adapters = dict(adapters)
        self.clock = clock
        self.idle_poll = idle_poll
        self.coalesce = coalesce
        self.on_result = on_result
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping = False
        self._leases_checked: datetime | None = None

    def wake(self) -> None:
        """Thread-safe: ask the worker to look for due rows now. After the worker's loop has
        closed (a job thread finishing after stop) it does nothing: the row waits, stored, for
        the next start."""
        loop = self._loop
        if loop is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):  # closed in between
                loop.call_soon_threadsafe(self._wake.set)

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
        for adapter in self.adapters.values():  # sessions `deliver` opened on this loop
            await adapter.close_outbound()

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
                        # Woken by an enqueue: let a burst gather so one claim takes it all
                        # (one transaction and one thread hop per batch, not per message).
                        await asyncio.sleep(self.coalesce)

    async def drain_once(self) -> int:
        """Deliver one batch of due rows; return how many were attempted."""
        now = self.clock()
        # Expired leases are looked for every few seconds, not on every wake-up (a lease is
        # 60 s long; the check is a write).
        expire = self._leases_checked is None or now - self._leases_checked >= LEASE_CHECK
        if expire:
            self._leases_checked = now
        claimed = await asyncio.to_thread(
            claim_due, self.engine, set(self.adapters), now=now, expire_leases=expire
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
