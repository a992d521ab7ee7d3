"""Operator subcommands beside serve/demo/migrate: Mattermost set-up and the domains' tools."""

from __future__ import annotations

import argparse
from typing import Any


def add_commands(sub: Any) -> None:
    """Register operator commands on the `console-copilot` parser."""
    mm = sub.add_parser(
        "mattermost-setup",
        help="register the slash commands on the Mattermost team and print their tokens",
    )
    mm.add_argument("--team", help="team name (default MATTERMOST_TEAM or the bot's first team)")
    mm.set_defaults(fn=cmd_mattermost_setup)


def cmd_mattermost_setup(ns: argparse.Namespace) -> int:
    from bot.platforms.mattermost_setup import setup

    return setup(ns)
