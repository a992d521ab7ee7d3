"""Operator subcommands that domains add (runbooks, billing, audit, evidence, mattermost)."""

from __future__ import annotations

import argparse
from typing import Any


def add_commands(sub: Any) -> None:
    """Register domain CLI commands on the `console-copilot` parser."""
    del sub  # domains add theirs here as they land


__all__ = ["add_commands", "argparse"]
