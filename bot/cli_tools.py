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

    rb = sub.add_parser("runbooks", help="runbook catalog tools")
    rsub = rb.add_subparsers(dest="runbooks_command", required=True)
    validate = rsub.add_parser("validate", help="check runbook YAML (file, folder or catalog)")
    validate.add_argument("path", nargs="?", help="default: the shipped catalog")
    validate.set_defaults(fn=cmd_runbooks_validate)

    audit = sub.add_parser("audit", help="the hash-chained audit log")
    asub = audit.add_subparsers(dest="audit_command", required=True)
    asub.add_parser("verify", help="detect edited or deleted entries").set_defaults(
        fn=cmd_audit_verify
    )
    export = asub.add_parser("export", help="write the log as JSON Lines")
    export.add_argument("--output", "-o", help="file (default: standard output)")
    export.set_defaults(fn=cmd_audit_export)

    ev = sub.add_parser("evidence", help="the audit-ready evidence archive")
    esub = ev.add_subparsers(dest="evidence_command", required=True)
    ev_export = esub.add_parser("export", help="write the evidence zip (manifest with SHA-256)")
    ev_export.add_argument("--from", dest="start", help="first day, YYYY-MM-DD")
    ev_export.add_argument("--to", dest="end", help="last day, YYYY-MM-DD (included)")
    ev_export.add_argument("--output", "-o", help="zip file (default: evidence-<time>.zip)")
    ev_export.set_defaults(fn=cmd_evidence_export)


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


def cmd_runbooks_validate(ns: argparse.Namespace) -> int:
    """Validate runbooks; print `file:line: message` per error."""
    from runbooks.validate import main

    return main(ns.path)


def _migrated_engine() -> Any:
    from bot.cli import _settings
    from storage import migrate
    from storage.db import make_engine

    engine = make_engine(_settings().database_url)
    if migrate.pending(engine):
        print("error: the database is not migrated: run `console-copilot migrate`", file=sys.stderr)
        raise SystemExit(2)
    return engine


def cmd_audit_verify(ns: argparse.Namespace) -> int:
    from storage import audit
    from storage.db import unit_of_work

    with unit_of_work(_migrated_engine()) as s:
        return audit.verify_command(s, sys.stdout)


def cmd_audit_export(ns: argparse.Namespace) -> int:
    from storage import audit
    from storage.db import unit_of_work

    with unit_of_work(_migrated_engine()) as s:
        if ns.output:
            with open(ns.output, "w", encoding="utf-8") as fp:
                n = audit.export_jsonl(s, fp)
        else:
            n = audit.export_jsonl(s, sys.stdout)
    print(f"exported {n} entries", file=sys.stderr)
    return 0


def cmd_evidence_export(ns: argparse.Namespace) -> int:
    """Write the evidence archive; exit status 1 when the audit chain is broken."""
    from handlers.compliance import evidence

    try:
        start = evidence.parse_day(ns.start)
        end = evidence.parse_day(ns.end, end=True)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    archive = evidence.build_archive(_migrated_engine(), start=start, end=end)
    path = ns.output or archive.filename
    with open(path, "wb") as fp:
        fp.write(archive.data)
    chain = "ok" if archive.audit_ok else "BROKEN"
    print(
        f"wrote {path}: {len(archive.files) + 1} files, {len(archive.data)} bytes, "
        f"audit chain {chain} ({archive.audit_checked} entries)"
    )
    return 0 if archive.audit_ok else 1
