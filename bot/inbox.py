"""Durable dedupe of incoming events: recorded before the ack, processed once.

`record` is one `INSERT ... ON CONFLICT DO NOTHING`: the first delivery of an event wins,
retries (Slack `X-Slack-Retry-Num`, websocket redelivery, every replica seeing the same
Mattermost post) find the row and are acknowledged without being handled again.
"""

from __future__ import annotations

import functools
import os
import socket
import sqlite3
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from sqlalchemy import DateTime, bindparam, func, update
from sqlalchemy import exc as sa_exc
from sqlalchemy import select as sa_select
from sqlalchemy.dialects import sqlite as sqlite_dialect
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection, Engine
from sqlmodel import select

from bot.events import Event
from storage.db import (
    PRUNE_BATCH,
    PgStatement,
    as_utc,
    delete_in_batches,
    is_postgres,
    pg_autocommit,
    unit_of_work,
    urgent_writes,
    write_gate,
)
from storage.models.core import InboxEvent

# Statements built once (hot path: every event runs record, claim and finish); only the
# parameters change per call, so SQLAlchemy's compiled cache is hit without rebuilding them.
_T = InboxEvent.__table__
_C = _T.c
_KEY = (_C.platform == bindparam("p_platform")) & (_C.event_id == bindparam("p_event_id"))
_RECORD = {
    name: dialect_insert(_T)
    .values(
        platform=bindparam("p_platform"),
        event_id=bindparam("p_event_id"),
        kind=bindparam("p_kind"),
        payload=bindparam("p_payload"),
        status="received",
        received_at=bindparam("p_now"),
    )
    .on_conflict_do_nothing(index_elements=["platform", "event_id"])
    .returning(_C.id)
    for name, dialect_insert in (("postgresql", pg_insert), ("sqlite", sqlite_insert))
}
_CLAIMING = {
    "status": "processing",
    "claimed_by": bindparam("p_owner"),
    "claimed_at": bindparam("p_claimed"),
}
_CLAIM = update(_T).where(_KEY, _C.status == "received").values(**_CLAIMING)
CLAIM_RETURNING = _CLAIM.returning(_C.id)  # for a statement that claims in a CTE
FINISH = (
    update(_T)
    .where(_KEY)
    .values(
        status=bindparam("p_status"), finished_at=bindparam("p_now"), error=bindparam("p_error")
    )
)


def key_params(event: Event) -> dict[str, str]:
    """Bind parameters naming the event's row (`p_platform`, `p_event_id`)."""
    return {"p_platform": str(event.platform), "p_event_id": event.event_id[:255]}


@functools.cache
def _host() -> str:
    return socket.gethostname()  # once: claims run on every event


def owner(pid: int | None = None) -> str:
    """How a process signs the events it claims: "host:pid" (`pid`: another process of this
    host, e.g. a worker that exited)."""
    return f"{_host()}:{pid or os.getpid()}"[-64:]


def claim_params(event: Event | None = None) -> dict[str, object]:
    """Bind parameters of a claim: this process as the owner, now, and the event's row."""
    params: dict[str, object] = {"p_owner": owner(), "p_claimed": datetime.now(UTC)}
    return params if event is None else {**params, **key_params(event)}


_key = key_params


def _record_params(event: Event, payload: str | None) -> dict[str, object]:
    """The record INSERT's parameters besides the key (`payload`: the event's JSON, if made)."""
    return {
        "p_kind": str(event.kind),
        "p_payload": payload or event.model_dump_json(),
        "p_now": datetime.now(UTC),
    }


def record(engine: Engine, event: Event, payload: str | None = None) -> bool:
    """Store the event (`payload`: its JSON, when the caller has it already); True when it is
    new, False when it was seen before."""
    params = {
        **_key(event),
        **_record_params(event, payload),
    }
    with urgent_writes(), engine.begin() as conn:  # ahead of handlers' writes (SQLite)
        return conn.execute(_RECORD[engine.dialect.name], params).first() is not None


# The same INSERT, compiled once for psycopg: the async recorder runs it without SQLAlchemy.
_PG_RECORD = PgStatement(_RECORD["postgresql"])

# With worker processes (an ingress): the same INSERT, and a NOTIFY when it stored a new event,
# delivered at commit, so LISTENing workers take it at once instead of polling the inbox.
NOTIFY_CHANNEL = "copilot_inbox"
_inserted = _RECORD["postgresql"].cte("inserted")
_PG_RECORD_NOTIFY = PgStatement(
    sa_select(_inserted.c.id, func.pg_notify(NOTIFY_CHANNEL, "")).select_from(_inserted)
)


def _conninfo(engine: Engine) -> str:
    """The engine's database as a plain psycopg connection string (no SQLAlchemy driver)."""
    return engine.url.set(drivername="postgresql").render_as_string(hide_password=False)


class AsyncRecorder:
    """PostgreSQL: record events on the event loop — a psycopg async pool of autocommit
    connections, one round trip per event, no thread hand-off on the acknowledgement path."""

    def __init__(self, engine: Engine, *, max_size: int = 8, notify: bool = False) -> None:
        from psycopg_pool import AsyncConnectionPool

        self.statement = _PG_RECORD_NOTIFY if notify else _PG_RECORD
        self.pool = AsyncConnectionPool(
            _conninfo(engine),
            min_size=2,
            max_size=max_size,
            timeout=2.0,
            open=False,
            kwargs={
                "autocommit": True,
                "connect_timeout": 2,
                "options": "-c lock_timeout=5000 -c statement_timeout=5000",
            },
        )

    async def open(self) -> None:
        await self.pool.open(wait=False)

    async def close(self) -> None:
        await self.pool.close()

    async def record(self, event: Event, payload: str | None = None) -> bool:
        params = {
            **self.statement.constants,
            **_key(event),
            **_record_params(event, payload),
        }
        # getconn/putconn rather than `connection()`: no context-manager layers and no
        # commit call per event (autocommit); putconn checks the connection and drops a
        # broken one, as `connection()` does
        conn = await self.pool.getconn()
        try:
            cur = await conn.execute(self.statement.sql, params)
            return await cur.fetchone() is not None
        finally:
            await self.pool.putconn(conn)


# SQLite: the same INSERT for a plain sqlite3 connection, and SQLAlchemy's text form of a
# datetime (what the ORM writes and reads back in this column).
_SQLITE = sqlite_dialect.dialect(paramstyle="named")  # type: ignore[no-untyped-call]
_SQLITE_RECORD = _RECORD["sqlite"].compile(dialect=_SQLITE)
_SQLITE_SQL = str(_SQLITE_RECORD)
_SQLITE_CONSTANTS = {k: v for k, v in _SQLITE_RECORD.params.items() if v is not None}
_SQLITE_TIME: Callable[[object], object] = DateTime().dialect_impl(_SQLITE).bind_processor(
    _SQLITE
) or (lambda value: value)
BUSY_POLL = 0.0002  # s between tries while another process holds SQLite's write lock
RECORD_TIMEOUT = 5.0  # s an insert may wait for the write lock before the ack fails (503)


class SqliteRecorder:
    """SQLite: record events on plain sqlite3 connections, one per recording thread.

    Another process writing the same file (worker processes, a second replica) holds SQLite's
    one write lock for its transaction. SQLite's own busy handler waits 1, 2, 5, 10 ms ...
    between tries, so an ack meeting the lock twice waited 3-8 ms more (p99 12 ms with
    `--workers 1`). Here the connection does not wait in SQLite (busy_timeout 0): the insert is
    tried again every 0.2 ms, so it waits about as long as the transaction in its way. In this
    process it first takes the engine's write gate as an urgent writer (ahead of handlers).
    The insert autocommits: no BEGIN/COMMIT statements, no SQLAlchemy per-call work.
    """

    @staticmethod
    def fits(engine: Engine) -> bool:
        """A SQLite database in a file (another connection to `:memory:` is another database)."""
        name = engine.url.database or ""
        return engine.dialect.name == "sqlite" and name not in ("", ":memory:")

    def __init__(self, engine: Engine) -> None:
        self.path = engine.url.database or ""
        self.gate = write_gate(engine)
        self._local = threading.local()
        self._all: list[sqlite3.Connection] = []
        self._lock = threading.Lock()

    def _conn(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(
                self.path, isolation_level=None, check_same_thread=False, timeout=0
            )
            conn.execute("PRAGMA busy_timeout=0")
            conn.execute("PRAGMA synchronous=NORMAL")  # as the engine's: no fsync per commit
            # the engine's connections checkpoint the WAL; an ack must not wait for one
            conn.execute("PRAGMA wal_autocheckpoint=0")
            with self._lock:
                self._all.append(conn)
            self._local.conn = conn
        return conn

    def record(self, event: Event, payload: str | None = None) -> bool:
        """Like `record` (runs in the caller's thread); True when the event is new."""
        params = {**_SQLITE_CONSTANTS, **_key(event), **_record_params(event, payload)}
        params["p_now"] = _SQLITE_TIME(params["p_now"])
        sql = _SQLITE_SQL
        conn = self._conn()
        deadline = time.monotonic() + RECORD_TIMEOUT
        if self.gate is not None:
            with urgent_writes():
                self.gate.enter(conn)
        try:
            while True:
                try:
                    return bool(conn.execute(sql, params).fetchall())
                except sqlite3.OperationalError as exc:
                    if "locked" not in str(exc) or time.monotonic() > deadline:
                        raise sa_exc.OperationalError(sql, params, exc) from exc
                    time.sleep(BUSY_POLL)
        finally:
            if self.gate is not None:
                self.gate.leave(conn)

    def close(self) -> None:
        with self._lock:
            conns, self._all = self._all, []
        for conn in conns:
            conn.close()


async def listen(engine: Engine, wake: Callable[[], None]) -> None:
    """PostgreSQL: call `wake` on every NOTIFY of a newly recorded event, until cancelled.

    One dedicated connection (LISTEN needs its own session). Raises when it breaks; the caller
    polls meanwhile and listens again.
    """
    import psycopg

    async with await psycopg.AsyncConnection.connect(
        _conninfo(engine), autocommit=True, connect_timeout=5
    ) as conn:
        await conn.execute(f"LISTEN {NOTIFY_CHANNEL}")
        wake()  # anything recorded before the LISTEN took effect
        async for _ in conn.notifies():
            wake()


def claim(conn: Connection, event: Event) -> bool:
    """Move the event from received to processing (in the caller's transaction); False if
    someone else has it."""
    return conn.execute(_CLAIM, claim_params(event)).rowcount == 1


def finish_params(event: Event, *, error: str | None = None) -> dict[str, object]:
    """Bind parameters of FINISH: the event's verdict, done or failed (with the error)."""
    return {
        **_key(event),
        "p_status": "failed" if error else "done",
        "p_now": datetime.now(UTC),
        "p_error": error[:4000] if error else None,
    }


def finish(conn: Connection, event: Event, *, error: str | None = None) -> None:
    """Mark the event done (or failed) in the caller's transaction."""
    conn.execute(FINISH, finish_params(event, error=error))


_WAITING = (
    sa_select(_C.id).where(_C.status == "received").order_by(_C.id).limit(bindparam("p_limit"))
)
_TAKE = (
    update(_T)
    .where(_C.id.in_(bindparam("p_ids", expanding=True)), _C.status == "received")
    .values(**_CLAIMING)
    .returning(_C.payload)
)


# PostgreSQL: one autocommitted statement; SKIP LOCKED lets workers taking at the same moment
# get different rows instead of contending for the same oldest ones.
_PG_TAKE = PgStatement(
    update(_T)
    .where(
        _C.id.in_(
            sa_select(_C.id)
            .where(_C.status == "received")
            .order_by(_C.id)
            .limit(bindparam("p_limit"))
            .with_for_update(skip_locked=True)
        )
    )
    .values(**_CLAIMING)
    .returning(_C.id, _C.payload)
)


def take(engine: Engine, *, limit: int) -> list[Event]:
    """Claim up to `limit` recorded events, oldest first, for a worker process.

    SQLite: a read finds candidates (no write lock while the inbox is empty); the claim
    re-checks the status, so of two workers seeing the same row one gets it.
    """
    if is_postgres(engine):
        with pg_autocommit(engine) as conn:
            rows = _PG_TAKE.run(conn, {"p_limit": limit, **claim_params()}).fetchall()
        return [Event.model_validate_json(payload) for _id, payload in sorted(rows)]
    with engine.connect() as conn:
        ids = conn.execute(_WAITING, {"p_limit": limit}).scalars().all()
    if not ids:
        return []
    with engine.begin() as conn:
        payloads = conn.execute(_TAKE, {"p_ids": list(ids), **claim_params()}).scalars().all()
    return [Event.model_validate_json(p) for p in payloads]


def waiting(engine: Engine, now: datetime) -> tuple[int, float]:
    """Events acknowledged and not taken by a handler yet: how many, and the oldest's age (s)."""
    stmt = sa_select(func.count(), func.min(_C.received_at)).where(_C.status == "received")
    with engine.connect() as conn:
        count, oldest = conn.execute(stmt).one()
    age = (now - as_utc(oldest)).total_seconds() if oldest is not None else 0.0
    return int(count), max(0.0, age)


def prune(engine: Engine, *, before: datetime, batch: int = PRUNE_BATCH) -> int:
    """Forget handled events received before `before` (dedupe needs minutes of history; the
    compliance stats read up to 366 days back); returns how many."""
    return delete_in_batches(
        engine, _T, (_C.status.in_(["done", "failed"]), _C.received_at < before), batch
    )


def stranded(engine: Engine, *, older_than: timedelta, limit: int = 100) -> list[Event]:
    """Events acknowledged but never processed (the process died between ack and handling)."""
    cutoff = datetime.now(UTC) - older_than
    with unit_of_work(engine) as s:
        rows = s.exec(
            select(InboxEvent)
            .where(InboxEvent.status == "received", InboxEvent.received_at < cutoff)
            .order_by(InboxEvent.id)
            .limit(limit)
        ).all()
        return [Event.model_validate_json(r.payload) for r in rows]


INTERRUPTED = "interrupted: the process stopped while handling it"


def interrupted(
    conn: Connection, *, older_than: timedelta | None = None, owner: str | None = None
) -> list[Event]:
    """Mark events a dead process was handling as failed (in the caller's transaction) and
    return them: those claimed by `owner`, else those claimed more than `older_than` ago."""
    now = datetime.now(UTC)
    if owner is not None:
        which = _C.claimed_by == owner
    elif older_than is not None:
        which = func.coalesce(_C.claimed_at, _C.received_at) < now - older_than
    else:
        raise ValueError("interrupted() needs owner or older_than")
    stmt = (
        update(_T)
        .where(_C.status == "processing", which)
        .values(status="failed", error=INTERRUPTED, finished_at=now)
        .returning(_C.payload)
    )
    return [Event.model_validate_json(p) for p in conn.execute(stmt).scalars()]
