"""Status digests from Prometheus and Alertmanager: the engine and its renderer (no chat SDKs)."""

from __future__ import annotations

from handlers.digests.config import DigestConfig, load_config, parse_window
from handlers.digests.engine import build_digest, diff
from handlers.digests.model import Change, Digest, Level, Row, SectionProvider, SectionResult
from handlers.digests.render import render_digest

__all__ = [
    "Change",
    "Digest",
    "DigestConfig",
    "Level",
    "Row",
    "SectionProvider",
    "SectionResult",
    "build_digest",
    "diff",
    "load_config",
    "parse_window",
    "render_digest",
]
