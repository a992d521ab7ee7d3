"""Engine and sessions. SQLite (default, WAL) or PostgreSQL (psycopg 3)."""

from __future__ import annotations

import sqlite3
import threading
import time
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import delete, event, select
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import Engine
from sqlalchemy.sql.expression import Executable
from sqlmodel import Session, create_engine


def make_engine(url: str, **kwargs: Any) -> Engine:
    """Create the engine for `url`; makes the SQLite folder and sets pragmas for concurrency."""
    if url.startswith("sqlite"):
        raw = url.split("///", 1)[-1]
        if raw and raw != ":memory:":
            Path(raw).parent.mkdir(parents=True, exist_ok=True)
        gate = WriteGate()
        connect_args = {
            "check_same_thread": False,
            "timeout": 30,
            "factory": gate.connection_class(),
        }
        engine = create_engine(url, connect_args=connect_args, **kwargs)
        _GATES[engine] = gate

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn: Any, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

        @event.listens_for(engine, "before_cursor_execute")
        def _writer(conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
            if statement.lstrip()[:6].upper() in _WRITES:
                gate.enter(conn.connection.dbapi_connection)

        return engine
    kwargs.setdefault("pool_size", 10)
    kwargs.setdefault("max_overflow", 20)
    kwargs.setdefault("pool_timeout", 5)
    # Bounded waits: a lock held by a stuck transaction fails a statement instead of hanging it.
    options = "-c lock_timeout=20000 -c idle_in_transaction_session_timeout=120000"
    engine = create_engine(url, connect_args={"connect_timeout": 5, "options": options}, **kwargs)
    if kwargs.get("pool_pre_ping") is None:
        ping_when_idle(engine)
    return engine


PING_IDLE = 5.0  # s a pooled PostgreSQL connection may rest before it is checked on checkout


def ping_when_idle(engine: Engine, idle: float = PING_IDLE) -> None:
    """Check a pooled connection on checkout only when it rested more than `idle` seconds.

    `pool_pre_ping` pings on every checkout: a round trip per transaction, several per event
    under load (profiled: 5 % of the process's CPU). A connection in steady use is proved by
    its last statement; one that rested may have been closed by a restart or a proxy, so it is
    pinged, and replaced when the ping fails (DisconnectionError makes the pool reconnect).
    A server that dies mid-load fails one statement per replica: SQLAlchemy sees the
    disconnect and drops the whole pool, and the caller's retry gets fresh connections.
    """

    @event.listens_for(engine, "checkin")
    def _rested(_dbapi_conn: Any, record: Any) -> None:
        record.info["rested_at"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _ping(dbapi_conn: Any, record: Any, _proxy: Any) -> None:
        rested = record.info.get("rested_at")
        if rested is None or time.monotonic() - rested < idle:
            return
        try:
            engine.dialect.do_ping(dbapi_conn)
        except Exception as exc:
            raise sa_exc.DisconnectionError("pooled connection is gone") from exc


_WRITES = {"INSERT", "UPDATE", "DELETE", "REPLAC"}

_GATES: weakref.WeakKeyDictionary[Engine, WriteGate] = weakref.WeakKeyDictionary()


def write_gate(engine: Engine) -> WriteGate | None:
    """The SQLite engine's write gate (None for PostgreSQL): a raw connection of this process
    writing to the same file enters it too."""
    return _GATES.get(engine)


_URGENT = threading.local()


@contextmanager
def urgent_writes() -> Iterator[None]:
    """Writes made by this thread inside the block go ahead of other waiting writers (SQLite's
    write gate): the acknowledgement's inbox insert must not queue behind handlers."""
    _URGENT.on = True
    try:
        yield
    finally:
        _URGENT.on = False


class WriteGate:
    """One SQLite writer at a time in this process, queued on a Python lock.

    SQLite allows one writer per database; a second one waits in SQLite's busy handler, which
    sleeps 1, 2, 5, ... up to 100 ms between retries, so under load an insert that needs the
    lock for 0.1 ms could wait tens of ms (the slash-command ack records the event first). A
    writer here takes a process-wide lock at its first write statement and gives it back when
    its transaction ends; waiters wake as soon as it is free, urgent ones (`urgent_writes`, the
    ack's insert) first: with a dozen handler threads queued, an ack waits for the transaction
    in progress, not for the whole queue. Other processes on the same file (worker processes)
    still meet SQLite's own locking; the ack's insert (`inbox.SqliteRecorder`) waits for them
    without the busy handler's sleeps.
    """

    def __init__(self, timeout: float = 30.0) -> None:
        lock = threading.Lock()
        self._urgent_turn = threading.Condition(lock)
        self._turn = threading.Condition(lock)
        self._busy = False
        self._urgent_waiting = 0
        self._holder: int | None = None  # id() of the DBAPI connection holding it
        self._thread: int | None = None
        self.timeout = timeout

    def enter(self, dbapi_conn: Any) -> None:
        key = id(dbapi_conn)
        if self._holder == key:
            return  # already this transaction's
        if self._thread == threading.get_ident():
            return  # this thread writes on a second connection: leave it to SQLite (no deadlock)
        urgent = getattr(_URGENT, "on", False)
        turn = self._urgent_turn if urgent else self._turn
        deadline = time.monotonic() + self.timeout
        with turn:
            if urgent:
                self._urgent_waiting += 1
            try:
                while self._busy or (not urgent and self._urgent_waiting):
                    left = deadline - time.monotonic()
                    if left <= 0:
                        return  # go on without it; SQLite's busy timeout decides
                    turn.wait(left)
                self._busy = True
                self._holder, self._thread = key, threading.get_ident()
            finally:
                if urgent:
                    self._urgent_waiting -= 1
                    if not self._busy and not self._urgent_waiting:
                        self._turn.notify()  # timed out without it: the others may go

    def leave(self, dbapi_conn: Any) -> None:
        if self._holder != id(dbapi_conn):
            return
        with self._turn:
            self._busy = False
            self._holder = self._thread = None
            if self._urgent_waiting:
                self._urgent_turn.notify()
            else:
                self._turn.notify()

    def connection_class(self) -> type[sqlite3.Connection]:
        gate = self

        class GatedConnection(sqlite3.Connection):
            def commit(self) -> None:
                try:
                    super().commit()
                finally:
                    gate.leave(self)

            def rollback(self) -> None:
                try:
                    super().rollback()
                finally:
                    gate.leave(self)

            def close(self) -> None:
                try:
                    super().close()
                finally:
                    gate.leave(self)

        return GatedConnection


@contextmanager
def unit_of_work(engine: Engine) -> Iterator[Session]:
    """One transaction: commit on success, roll back on error."""
    with Session(engine, expire_on_commit=False) as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise


def as_utc(value: datetime) -> datetime:
    """An aware datetime: SQLite hands stored datetimes back naive (they are stored as UTC), and
    a timestamp parsed without an offset is read as UTC."""
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def is_postgres(engine: Engine) -> bool:
    return engine.dialect.name == "postgresql"


class PgStatement:
    """A Core statement compiled once for psycopg, run on a raw connection.

    The per-event statements (inbox claim, answer and verdict, outbox sent) cost about a third
    of their CPU in SQLAlchemy's per-call work (execution context, result proxy, transaction
    objects) and another third in BEGIN and COMMIT round trips. Compiled here once, each is one
    autocommitted statement (`pg_autocommit`): atomic on its own, one round trip.
    """

    def __init__(self, stmt: Executable) -> None:
        from sqlalchemy.dialects.postgresql.psycopg import dialect

        compiled = stmt.compile(dialect=dialect())  # type: ignore[attr-defined]
        self.sql = str(compiled)
        # Values fixed in the statement (`.values(status="sent")`, None included); the caller
        # passes the named bind parameters.
        self.required = {bind.key for bind in compiled.binds.values() if bind.required}
        self.constants = {k: v for k, v in compiled.params.items() if k not in self.required}

    def run(self, conn: Any, params: dict[str, Any]) -> Any:
        """Execute on a psycopg connection; returns its cursor."""
        return conn.execute(self.sql, {**self.constants, **params})


@contextmanager
def pg_autocommit(engine: Engine) -> Iterator[Any]:
    """A pooled PostgreSQL connection (the engine's pool) as a psycopg connection in
    autocommit: every statement commits on its own.

    A connection that fails (server gone, network) is invalidated, not returned to the pool;
    the psycopg error propagates (callers treat it like SQLAlchemy's OperationalError).
    """
    import psycopg

    raw = engine.raw_connection()
    try:
        conn = raw.driver_connection
        conn.autocommit = True
        try:
            yield conn
        finally:
            if not conn.closed:
                conn.autocommit = False  # the pool's other users expect transactions
    except (psycopg.OperationalError, psycopg.InterfaceError) as exc:
        raw.invalidate(exc)
        raise
    finally:
        raw.close()


PRUNE_BATCH = 2000  # rows a housekeeping job deletes per transaction


def delete_in_batches(engine: Engine, table: Any, where: tuple[Any, ...], batch: int) -> int:
    """Delete the rows of `table` matching `where`, oldest ids first, `batch` rows per
    transaction; returns how many went.

    Housekeeping on a big old table must not hold a lock for the whole run: on SQLite one
    DELETE of a year of rows would keep every ack's insert waiting on the write lock. Each
    batch commits on its own (a run stopped half-way has deleted only what is due anyway).
    """
    total = 0
    while True:
        ids = select(table.c.id).where(*where).order_by(table.c.id).limit(batch)
        with engine.begin() as conn:
            n = conn.execute(delete(table).where(table.c.id.in_(ids.scalar_subquery()))).rowcount
        total += n
        if n < batch:
            return total


def serialize(session: Any, key: int, table: str) -> None:
    """Make the session's transaction wait for, then exclude, every other transaction that
    serializes on the same `key` until it commits (read-then-write sequences such as "next
    number" or "last hash"). PostgreSQL: a transaction-scoped advisory lock; SQLite: a no-op
    write to `table`, which takes the database write lock."""
    from sqlalchemy import text

    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": key})
    else:
        session.execute(text(f"UPDATE {table} SET id = id WHERE id = -1"))
