"""console-copilot: serve, demo, migrate, check-config and operator tools."""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import shutil
import sys
import tempfile
from collections.abc import Callable, Iterator

from bot.config import ConfigError, Settings, load_settings

log = logging.getLogger("console_copilot")
Command = Callable[[argparse.Namespace], int]


def _settings(**overrides: object) -> Settings:
    try:
        return load_settings(**overrides)
    except ConfigError as exc:
        print(f"configuration error:\n{exc}", file=sys.stderr)
        raise SystemExit(2) from None


def cmd_check_config(ns: argparse.Namespace) -> int:
    """Validate the configuration and say what is enabled."""
    s = _settings()
    from storage import migrate
    from storage.db import make_engine

    print("configuration: ok")
    print(f"  database: {s.database_url.split('@')[-1]}")
    print(
        f"  slack: {'socket mode' if s.slack_app_token else 'http'}"
        if s.slack_enabled
        else "  slack: off"
    )
    print(f"  mattermost: {s.mattermost_url}" if s.mattermost_enabled else "  mattermost: off")
    print(f"  local workspace: {'on' if s.local_enabled else 'off'}")
    print(
        f"  llm: {'anthropic ' + s.anthropic_model if s.anthropic_api_key else 'off (fallbacks)'}"
    )
    for name in ("incidents", "alerts", "finops", "partner_review"):
        if not getattr(s, f"copilot_{name}_channel"):
            print(
                f"  warning: COPILOT_{name.upper()}_CHANNEL is not set; "
                "announcements go to the channel a command came from"
            )
    try:
        engine = make_engine(s.database_url)
        missing = migrate.pending(engine)
    except Exception as exc:
        print(f"  database: unreachable ({type(exc).__name__}: {exc})", file=sys.stderr)
        return 1
    print("  schema: up to date" if not missing else "  schema: NOT migrated (run migrate)")
    return 0 if not missing else 1


def cmd_migrate(ns: argparse.Namespace) -> int:
    """Apply database migrations."""
    s = _settings()
    from storage import migrate
    from storage.db import make_engine

    revs = migrate.upgrade(make_engine(s.database_url))
    print("migrated: " + ", ".join(revs))
    return 0


def cmd_serve(ns: argparse.Namespace) -> int:
    """Run the bot (with --workers N: acknowledge here, handle in N worker processes)."""
    s = _settings(**({"copilot_workers": ns.workers} if ns.workers is not None else {}))
    if ns.ingress_only and s.local_enabled:
        print(
            "configuration error:\n--ingress-only needs Slack or Mattermost: the local "
            "workspace (demo) runs in one process",
            file=sys.stderr,
        )
        return 2
    if not s.copilot_workers:
        return _run(s, ingress=ns.ingress_only)
    with _shared_metrics():
        return _run(s, workers=s.copilot_workers, ingress=ns.ingress_only)


@contextlib.contextmanager
def _shared_metrics() -> Iterator[None]:
    """Worker processes report through this process's /metrics: prometheus_client's
    multiprocess mode, set up before it is first imported (it reads the variable then)."""
    if "prometheus_client" in sys.modules or os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        yield  # already decided (an operator's own directory, or tests in one process)
        return
    folder = tempfile.mkdtemp(prefix="copilot-metrics-")
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = folder
    try:
        yield
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def cmd_worker(ns: argparse.Namespace) -> int:
    """Handle events recorded by the serving processes (no HTTP)."""
    import asyncio

    from bot import logs, workers
    from bot.app import NotMigrated, Role, create_app

    if ns.nice:
        os.nice(ns.nice)
    if ns.parent:
        workers.die_with_parent(ns.parent)
    s = _settings()
    logs.configure(s.copilot_log_level)
    app = create_app(s, role=Role.WORKER)
    try:
        app.check_schema()
    except NotMigrated as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    asyncio.run(workers.run_worker(app))
    return 0


def cmd_demo(ns: argparse.Namespace) -> int:
    """Run the bot on the local workspace with SQLite and sample data."""
    os.environ.setdefault("DATABASE_URL", "sqlite:///var/demo.db")
    overrides: dict[str, object] = {"copilot_demo": True, "copilot_http_host": ns.host}
    if ns.port is not None:
        overrides["copilot_http_port"] = ns.port
    s = _settings(**overrides)
    from bot.demo import prepare

    s = prepare(s)
    print(f"Console Copilot demo: open http://{ns.host}:{ns.port}/  (Ctrl-C to stop)", flush=True)
    return _run(s)


def _run(settings: Settings, *, workers: int = 0, ingress: bool = False) -> int:
    from aiohttp import web

    from bot import logs
    from bot.app import NotMigrated, Role, create_app, tune_runtime

    logs.configure(settings.copilot_log_level)
    app = create_app(settings, role=Role.INGRESS if workers or ingress else Role.ALL)
    try:
        app.check_schema()
    except NotMigrated as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if workers:
        app.add_worker_pool(workers)

    async def settle(_web: web.Application) -> None:
        tune_runtime()

    app.web.on_startup.append(settle)  # after the app's own start-up: everything imported
    web.run_app(
        app.web,
        host=settings.copilot_http_host,
        port=settings.copilot_http_port,
        print=None,
        access_log=None,
        shutdown_timeout=10,
    )
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="console-copilot", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)
    s = sub.add_parser("serve", help="run the bot")
    s.add_argument(
        "--workers",
        type=int,
        default=None,
        help="handle events in N worker processes; this one only acknowledges "
        "(default COPILOT_WORKERS or 0: everything in this process)",
    )
    s.add_argument(
        "--ingress-only",
        action="store_true",
        help="only verify, record and acknowledge; `console-copilot worker` processes elsewhere "
        "handle (a separate Deployment)",
    )
    s.set_defaults(fn=cmd_serve)
    w = sub.add_parser("worker", help="handle recorded events, deliver, schedule (no HTTP)")
    w.add_argument("--nice", type=int, default=0, help="lower this process's CPU priority")
    w.add_argument("--parent", type=int, default=0, help=argparse.SUPPRESS)
    w.set_defaults(fn=cmd_worker)
    d = sub.add_parser("demo", help="run on the local workspace with sample data")
    d.add_argument("--host", default="127.0.0.1")
    d.add_argument("--port", type=int, default=None, help="default COPILOT_HTTP_PORT or 8080")
    d.set_defaults(fn=cmd_demo)
    sub.add_parser("migrate", help="apply database migrations").set_defaults(fn=cmd_migrate)
    sub.add_parser("check-config", help="validate configuration").set_defaults(fn=cmd_check_config)
    from bot import cli_tools

    cli_tools.add_commands(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    ns = parser.parse_args(argv)
    fn: Command = ns.fn
    return fn(ns)


if __name__ == "__main__":
    raise SystemExit(main())
