"""PostgreSQL pool: a connection that rested is checked on checkout; one in steady use is not."""

from __future__ import annotations

import time
from collections.abc import Iterator

import psycopg
import pytest
from sqlalchemy import exc as sa_exc
from sqlalchemy import text
from sqlalchemy.engine import Engine

from storage.db import make_engine, pg_autocommit, ping_when_idle


def _engine(pg_engine: Engine, idle: float) -> Engine:
    engine = make_engine(pg_engine.url.render_as_string(hide_password=False), pool_pre_ping=False)
    ping_when_idle(engine, idle=idle)
    return engine


def _backend(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(text("SELECT pg_backend_pid()")).scalar_one())


def _kill(engine: Engine, pid: int) -> None:
    url = engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(url, autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
        for _ in range(100):
            if not admin.execute(
                "SELECT 1 FROM pg_stat_activity WHERE pid = %s", (pid,)
            ).fetchone():
                return
            time.sleep(0.02)
    raise AssertionError(f"backend {pid} is still there")


@pytest.fixture
def short(pg_engine: Engine) -> Iterator[Engine]:
    engine = _engine(pg_engine, idle=0.1)
    yield engine
    engine.dispose()


@pytest.fixture
def long(pg_engine: Engine) -> Iterator[Engine]:
    engine = _engine(pg_engine, idle=60)
    yield engine
    engine.dispose()


def test_a_rested_connection_that_died_is_replaced_on_checkout(short: Engine) -> None:
    pid = _backend(short)
    _kill(short, pid)
    time.sleep(0.2)  # longer than the rest that triggers a ping
    assert _backend(short) != pid  # pinged, found dead, reconnected: the caller saw nothing


def test_a_connection_in_steady_use_is_not_pinged(long: Engine) -> None:
    """Within the rest time the checkout trusts the connection (no round trip): a server-side
    kill shows up as one failed statement, then the pool is fresh."""
    pid = _backend(long)
    _kill(long, pid)
    with pytest.raises(sa_exc.OperationalError), long.connect() as conn:
        conn.execute(text("SELECT 1"))
    assert _backend(long) != pid


def test_an_autocommit_statement_on_a_killed_connection_fails_once_and_drops_it(
    long: Engine,
) -> None:
    """`pg_autocommit` (the per-event statements): the dead connection is invalidated, not
    handed back to the pool; the next statement gets a live one."""
    with pg_autocommit(long) as conn:
        pid = conn.info.backend_pid
    _kill(long, pid)
    with pytest.raises(psycopg.OperationalError), pg_autocommit(long) as conn:
        conn.execute("SELECT 1")
    with pg_autocommit(long) as conn:
        assert conn.info.backend_pid != pid
        assert conn.execute("SELECT 1").fetchone() == (1,)


def test_autocommit_is_given_back_off(long: Engine) -> None:
    """The pool's connections return to transactional mode: a later unit of work can roll
    back."""
    with pg_autocommit(long) as conn:
        conn.execute("CREATE TEMP TABLE IF NOT EXISTS t_ac (n int)")
    with long.connect() as sa_conn:
        sa_conn.execute(text("INSERT INTO t_ac VALUES (1)"))
        sa_conn.rollback()
        assert sa_conn.execute(text("SELECT count(*) FROM t_ac")).scalar_one() == 0
