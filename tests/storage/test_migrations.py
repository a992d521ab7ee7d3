from __future__ import annotations

from sqlalchemy import inspect
from sqlalchemy.engine import Engine

from storage.migrate import expected_revisions, pending, upgrade


def test_migrated_database_has_core_tables(engine: Engine) -> None:
    names = set(inspect(engine).get_table_names())
    assert {"inbox_event", "outbox_message", "audit_entry", "local_message"} <= names
    assert pending(engine) == set()


def test_upgrade_is_idempotent(engine: Engine) -> None:
    assert set(upgrade(engine)) == expected_revisions()
