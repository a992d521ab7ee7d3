"""Translation markers (main will carry the real gettext layer)."""

from __future__ import annotations


def N_(s: str) -> str:
    """Mark a module-level string for extraction; returns it unchanged."""
    return s
