"""Shared fixtures: databases on SQLite and on the machine's real PostgreSQL.

PostgreSQL is required, never silently skipped: each test session creates its own database
(`cc_test_<pid>_<random>`) on 127.0.0.1:5432 and drops it at the end, so parallel runs and
other projects' data never collide. `COPILOT_TEST_PG` overrides the server URL.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from sqlalchemy.engine import Engine

from storage.db import make_engine
from storage.migrate import upgrade

pytest_plugins = ("tests.harness.fixtures",)

# The live scheduler runs jobs on the real clock (the weekly stats post on Mondays 09:00 UTC,
# the hourly compliance scan): in a test that counts a channel's messages it is noise. Off for
# every app a test builds, subprocesses included; tests drive `Scheduler.fire` themselves, and
# tests/e2e/test_scheduler_replicas.py turns it back on for its replicas.
os.environ["COPILOT_SCHEDULER_ENABLED"] = "false"

PG_SERVER = os.environ.get("COPILOT_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")


def _pg_admin_url() -> str:
    return PG_SERVER


@pytest.fixture(scope="session")
def pg_database() -> Iterator[str]:
    """A fresh PostgreSQL database for this test session; yields its SQLAlchemy URL."""
    name = f"cc_test_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    try:
        admin = psycopg.connect(_pg_admin_url(), autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as exc:  # pragma: no cover - environment failure
        pytest.fail(f"PostgreSQL at {PG_SERVER} is required (make services): {exc}")
    with admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    base = PG_SERVER.rsplit("/", 1)[0]
    url = f"{base}/{name}".replace("postgresql://", "postgresql+psycopg://", 1)
    yield url
    with psycopg.connect(_pg_admin_url(), autocommit=True) as admin:
        admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (name,)
        )
        admin.execute(f'DROP DATABASE IF EXISTS "{name}"')


@pytest.fixture(scope="session")
def _pg_migrated(pg_database: str) -> str:
    engine = make_engine(pg_database)
    upgrade(engine)
    engine.dispose()
    return pg_database


@pytest.fixture(scope="session")
def _sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "copilot.db"
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    engine.dispose()
    return path


def _truncate_pg(url: str) -> None:
    engine = make_engine(url)
    with engine.begin() as conn:
        tables = [
            r[0]
            for r in conn.exec_driver_sql(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public' "
                "AND tablename <> 'alembic_version'"
            )
        ]
        if tables:
            conn.exec_driver_sql(
                "TRUNCATE " + ", ".join(f'"{t}"' for t in tables) + " RESTART IDENTITY CASCADE"
            )
    engine.dispose()


@pytest.fixture(params=["sqlite", "postgres"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A migrated, empty database URL, once on SQLite and once on PostgreSQL."""
    if request.param == "sqlite":
        template: Path = request.getfixturevalue("_sqlite_template")
        path = tmp_path / "copilot.db"
        shutil.copyfile(template, path)
        return f"sqlite:///{path}"
    url: str = request.getfixturevalue("_pg_migrated")
    _truncate_pg(url)
    return url


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    """A migrated engine on SQLite and on PostgreSQL (the test runs twice)."""
    eng = make_engine(db_url)
    yield eng
    eng.dispose()


@pytest.fixture
def pg_engine(_pg_migrated: str) -> Iterator[Engine]:
    """A migrated, empty PostgreSQL engine only (PostgreSQL-specific code paths)."""
    _truncate_pg(_pg_migrated)
    eng = make_engine(_pg_migrated)
    yield eng
    eng.dispose()


@pytest.fixture
def sqlite_engine(tmp_path: Path, _sqlite_template: Path) -> Iterator[Engine]:
    """A migrated SQLite engine only (for tests that need one fast database)."""
    path = tmp_path / "copilot.db"
    shutil.copyfile(_sqlite_template, path)
    eng = make_engine(f"sqlite:///{path}")
    yield eng
    eng.dispose()
