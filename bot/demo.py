"""`make demo`: migrate the SQLite database and seed the local workspace with sample data."""

from __future__ import annotations

from bot.config import Settings
from storage import migrate
from storage.db import make_engine


def prepare(settings: Settings) -> None:
    engine = make_engine(settings.database_url)
    migrate.upgrade(engine)
    from bot.platforms.local.adapter import LocalAdapter

    LocalAdapter(engine).ensure_channels()
    engine.dispose()
