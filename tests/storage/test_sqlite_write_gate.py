"""SQLite writers in one process queue on a Python lock instead of SQLite's sleeping retries."""

from __future__ import annotations

import contextlib
import threading
import time
from typing import Any

from sqlalchemy import event, insert, select, text
from sqlalchemy.engine import Engine

from storage.db import make_engine
from storage.models.core import UserPref


def _pref(user: str) -> dict[str, str]:
    return {"platform": "local", "user_id": user, "locale": "en"}


def test_a_second_writer_waits_for_the_first_and_both_commit(sqlite_engine: Engine) -> None:
    """With SQLite's own busy timeout at 50 ms, a writer kept waiting 300 ms would fail with
    "database is locked"; queued on the gate it gets in as soon as the first commits."""

    @event.listens_for(sqlite_engine, "connect")
    def _short_busy_timeout(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.execute("PRAGMA busy_timeout=50")

    sqlite_engine.dispose()
    order: list[str] = []
    first_wrote = threading.Event()

    def first() -> None:
        with sqlite_engine.begin() as conn:
            conn.execute(insert(UserPref).values(**_pref("a")))
            first_wrote.set()
            time.sleep(0.3)  # hold the write lock a while
            order.append("first commits")

    def second() -> None:
        first_wrote.wait(5)
        with sqlite_engine.begin() as conn:
            conn.execute(insert(UserPref).values(**_pref("b")))
            order.append("second wrote")

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert order == ["first commits", "second wrote"]
    with sqlite_engine.connect() as conn:
        assert sorted(conn.execute(select(UserPref.user_id)).scalars()) == ["a", "b"]


def test_a_failed_transaction_gives_the_lock_back(sqlite_engine: Engine) -> None:
    try:
        with sqlite_engine.begin() as conn:
            conn.execute(insert(UserPref).values(**_pref("a")))
            raise RuntimeError("handler failed")
    except RuntimeError:
        pass
    done = threading.Event()

    def writer() -> None:
        with sqlite_engine.begin() as conn:
            conn.execute(insert(UserPref).values(**_pref("b")))
        done.set()

    t = threading.Thread(target=writer)
    t.start()
    t.join(10)
    assert done.is_set()
    with sqlite_engine.connect() as conn:
        assert list(conn.execute(select(UserPref.user_id)).scalars()) == ["b"]


def test_one_thread_on_two_connections_does_not_deadlock(tmp_path: object) -> None:
    """A nested write on a second connection of the same thread is SQLite's to refuse."""
    eng = make_engine(f"sqlite:///{tmp_path}/gate.db")
    with eng.begin() as conn:
        conn.execute(text("CREATE TABLE t (x INTEGER)"))
    outer = eng.connect()
    try:
        outer.execute(text("INSERT INTO t VALUES (1)"))
        inner = eng.connect()
        inner.exec_driver_sql("PRAGMA busy_timeout=200")
        try:
            inner.execute(text("INSERT INTO t VALUES (2)"))
            raise AssertionError("SQLite let a second writer in")
        except Exception as exc:  # OperationalError: database is locked (not a hang)
            assert "locked" in str(exc)
        finally:
            inner.close()
        outer.commit()
    finally:
        outer.close()
        eng.dispose()


def test_an_urgent_writer_goes_ahead_of_queued_writers(sqlite_engine: Engine) -> None:
    """The ack's inbox insert (`urgent_writes`) waits for the transaction in progress only, not
    for handler writers that queued before it."""
    from storage.db import urgent_writes

    holding = threading.Event()
    release = threading.Event()

    def holder() -> None:
        with sqlite_engine.begin() as conn:
            conn.execute(insert(UserPref).values(**_pref("holder")))
            holding.set()
            release.wait(5)

    def writer(user: str, urgent: bool) -> None:
        gate = urgent_writes() if urgent else contextlib.nullcontext()
        with gate, sqlite_engine.begin() as conn:
            conn.execute(insert(UserPref).values(**_pref(user)))

    first = threading.Thread(target=holder)
    first.start()
    holding.wait(5)
    queued = [threading.Thread(target=writer, args=(f"handler-{n}", False)) for n in range(3)]
    for t in queued:
        t.start()
    time.sleep(0.2)  # the handlers are waiting for the gate
    ack = threading.Thread(target=writer, args=("ack", True))
    ack.start()
    time.sleep(0.2)
    release.set()
    for t in [first, *queued, ack]:
        t.join(10)
    with sqlite_engine.connect() as conn:
        rows = list(conn.execute(text("SELECT user_id FROM user_pref ORDER BY rowid")).scalars())
    assert rows[:2] == ["holder", "ack"]
    assert sorted(rows[2:]) == ["handler-0", "handler-1", "handler-2"]
