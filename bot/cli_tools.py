"""Operator subcommands beside serve/demo/migrate: Mattermost set-up and the domains' tools."""

from __future__ import annotations

import argparse
import sys
from typing import Any


def add_commands(sub: Any) -> None:
    """Register operator commands on the `console-copilot` parser."""
    mm = sub.add_parser(
        "mattermost-setup",
        help="register the slash commands on the Mattermost team and print their tokens",
    )
    mm.add_argument("--team", help="team name (default MATTERMOST_TEAM or the bot's first team)")
    mm.set_defaults(fn=cmd_mattermost_setup)

    billing = sub.add_parser("billing", help="billing data tools")
    bsub = billing.add_subparsers(dest="billing_command", required=True)
    ingest = bsub.add_parser("ingest", help="ingest FOCUS exports (CSV, CSV.gz, Parquet)")
    ingest.add_argument("path", nargs="?", help="file or folder (default BILLING_SOURCE)")
    ingest.set_defaults(fn=cmd_billing_ingest)


def cmd_mattermost_setup(ns: argparse.Namespace) -> int:
    from bot.platforms.mattermost_setup import setup

    return setup(ns)


def cmd_billing_ingest(ns: argparse.Namespace) -> int:
    """Ingest a FOCUS file or folder; print rows read, rejected and the period covered."""
    from bot.cli import _settings
    from handlers.billing.commands import format_ingest_report, ingest_cli
    from handlers.billing.ingest import IngestError
    from storage import migrate
    from storage.db import make_engine

    s = _settings()
    engine = make_engine(s.database_url)
    if migrate.pending(engine):
        print("error: the database is not migrated: run `console-copilot migrate`", file=sys.stderr)
        return 2
    if not ns.path and not s.billing_source:
        print("error: give a PATH or set BILLING_SOURCE", file=sys.stderr)
        return 2
    try:
        report = ingest_cli(engine, ns.path, s)
    except (IngestError, FileNotFoundError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(format_ingest_report(report))
    return 0
