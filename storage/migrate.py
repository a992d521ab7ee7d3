"""Alembic, driven from code: `console-copilot migrate` and the start-up check."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Engine

MIGRATIONS = Path(__file__).parent / "migrations"


def alembic_config(url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def upgrade(engine: Engine) -> list[str]:
    """Apply every pending migration (all heads); return the revisions now current."""
    cfg = alembic_config(str(engine.url.render_as_string(hide_password=False)))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "heads")
    return sorted(current_revisions(engine))


def current_revisions(engine: Engine) -> set[str]:
    with engine.connect() as conn:
        return set(MigrationContext.configure(conn).get_current_heads())


def expected_revisions() -> set[str]:
    script = ScriptDirectory.from_config(alembic_config("sqlite://"))
    return set(script.get_heads())


def pending(engine: Engine) -> set[str]:
    """Heads of the code that the database does not have yet (empty when up to date)."""
    current = current_revisions(engine)
    script = ScriptDirectory.from_config(alembic_config("sqlite://"))
    missing = set()
    for head in script.get_heads():
        if head in current:
            continue
        # A current revision that descends from this head also counts as applied.
        applied = any(
            head in {r.revision for r in script.iterate_revisions(cur, "base")} for cur in current
        )
        if not applied:
            missing.add(head)
    return missing
