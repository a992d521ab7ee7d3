"""`make demo`: migrate the SQLite database, seed the local workspace and, without a
kubeconfig, start the emulated demo cluster (labeled as such in every runbook message)."""

from __future__ import annotations

from pathlib import Path

from bot.config import Settings
from storage import migrate
from storage.db import make_engine

_cluster: object = None  # kept alive for the process


def prepare(settings: Settings) -> Settings:
    global _cluster
    engine = make_engine(settings.database_url)
    migrate.upgrade(engine)
    from bot.platforms.local.adapter import LocalAdapter

    LocalAdapter(engine).ensure_channels()
    engine.dispose()
    if settings.kubeconfig:
        return settings
    from runbooks.demo_cluster import start_demo_cluster

    _cluster = start_demo_cluster(Path("var"))
    path = str(_cluster.kubeconfig)  # type: ignore[attr-defined]
    return settings.model_copy(update={"kubeconfig": path, "copilot_demo_cluster": True})
