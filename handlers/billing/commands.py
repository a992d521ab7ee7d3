"""/cost commands, feedback buttons, the ingest CLI and the scheduler job functions.

Each chat handler is a thin shell over a plain function `(session, params, t, locale) -> Message`
so the answers are testable without a chat.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy.engine import Engine

from bot.i18n import N_
from bot.messages import Message
from handlers.billing import anomalies, forecast, queries, render
from handlers.billing.ingest import IngestReport, ingest_path, resolve_under
from handlers.billing.options import BillingOptions, from_settings
from storage import billing as repo
from storage.billing import Conn
from storage.db import unit_of_work

if TYPE_CHECKING:
    from bot.context import Context
    from bot.router import Args, Router

T = Callable[..., str]


@dataclass(frozen=True)
class CostParams:
    """Parsed /cost options; `now` is the clock reading of the request."""

    now: datetime = field(default_factory=lambda: datetime.now(UTC))
    period: str | None = None
    start: str | None = None
    end: str | None = None
    by: str | None = None
    n: int = 10
    backtest: bool = False
    options: BillingOptions = field(default_factory=BillingOptions)


def _period(session: Conn, p: CostParams) -> queries.Period:
    anchor = queries.anchor_day(session, p.now.date())
    return queries.parse_period(p.period, anchor=anchor, start=p.start, end=p.end)


def summary_answer(session: Conn, p: CostParams, t: T, locale: str) -> Message:
    """Cost for a period grouped by service|project|region|tag:KEY, with deltas and a chart."""
    period = _period(session, p)
    s = queries.summary(session, period=period, by=queries.check_grouping(p.by), limit=p.n)
    return render.summary_message(s, t, locale)


def top_answer(session: Conn, p: CostParams, t: T, locale: str) -> Message:
    """The N largest and fastest-growing groups."""
    period = _period(session, p)
    top = queries.top(session, period=period, by=queries.check_grouping(p.by), n=p.n)
    return render.top_message(top, t, locale)


def forecast_answer(session: Conn, p: CostParams, t: T, locale: str) -> Message:
    """Month-end forecast with its interval and its measured backtest error (always shown)."""
    as_of = queries.anchor_day(session, p.now.date())
    forecasts = forecast.forecast(session, as_of=as_of)
    cumulative: dict[str, list[tuple[date, float]]] = defaultdict(list)
    for day, _, cur, cost in repo.daily_costs(session, start=as_of.replace(day=1), end=as_of):
        prev = cumulative[cur][-1][1] if cumulative[cur] else 0.0
        cumulative[cur].append((day, prev + cost))
    bt = forecast.backtest(session)
    return render.forecast_message(forecasts, cumulative, t, locale, bt)


def anomalies_answer(session: Conn, p: CostParams, t: T, locale: str) -> Message:
    """Anomalies detected in the period (detects first, so the answer is current)."""
    period = _period(session, p)
    anomalies.store(
        session, anomalies.detect(session, start=period.start, end=period.end, options=p.options)
    )
    items = anomalies.list_anomalies(session, start=period.start, end=period.end)
    return render.anomalies_message(items, period.start, period.end, t, locale)


def freshness_answer(session: Conn, p: CostParams, t: T, locale: str) -> Message:
    """The newest charge period, the last ingest, and whether data is stale."""
    f = queries.freshness(session, now=p.now, threshold=p.options.stale_after)
    return render.freshness_message(f, t, locale, p.now)


# -- chat --------------------------------------------------------------------------------
def register(router: Router) -> None:
    from bot.router import Opt

    period = Opt("period", help=N_("7d, 30d, mtd or last-month"))
    frm, to = Opt("from", metavar="YYYY-MM-DD"), Opt("to", metavar="YYYY-MM-DD")
    by = Opt("by", help=N_("service, project, region, resource or tag:KEY"))
    g = router.command("cost", help=N_("Billing questions"))
    g.sub(
        "summary",
        cost_summary,
        help=N_("Cost for a period, with deltas"),
        usage="summary [--period 30d | --from D --to D] [--by service]",
        options=[period, frm, to, by, Opt("n", type=int)],
        max_args=0,
    )
    g.sub(
        "top",
        cost_top,
        help=N_("Largest and fastest-growing"),
        usage="top [--by service] [--n 10] [--period 30d]",
        options=[period, frm, to, by, Opt("n", type=int)],
        max_args=0,
    )
    g.sub(
        "forecast",
        cost_forecast,
        help=N_("Month-end forecast with an interval"),
        usage="forecast [--backtest]",
        options=[Opt("backtest", flag=True, help=N_("kept for compatibility: always shown"))],
        max_args=0,
    )
    g.sub(
        "anomalies",
        cost_anomalies,
        help=N_("Cost anomalies in a period"),
        usage="anomalies [--period 30d]",
        options=[period, frm, to],
        max_args=0,
    )
    g.sub("freshness", cost_freshness, help=N_("How fresh the billing data is"), max_args=0)
    router.action(render.ACK, on_ack)
    router.action(render.DISMISS, on_dismiss)


def _params(ctx: Context, args: Args) -> CostParams:
    return CostParams(
        now=ctx.now(),
        period=args.opt("period"),
        start=args.opt("from"),
        end=args.opt("to"),
        by=args.opt("by"),
        n=max(1, min(50, int(args.opt("n") or 10))),
        backtest=bool(args.opt("backtest")),
        options=from_settings(ctx.settings),
    )


def _answer(ctx: Context, args: Args, fn: Callable[[Conn, CostParams, T, str], Message]) -> Message:
    from bot.router import UsageError

    try:
        with ctx.session() as s:
            return fn(s, _params(ctx, args), ctx.t, ctx.locale)
    except queries.QueryError as exc:
        raise UsageError(ctx.t(str(exc))) from None


def cost_summary(ctx: Context, args: Args) -> Message | None:
    """Cost for a period, grouped, with deltas vs the previous period."""
    return _answer(ctx, args, summary_answer)


def cost_top(ctx: Context, args: Args) -> Message | None:
    """Largest and fastest-growing services, projects, regions or tags."""
    return _answer(ctx, args, top_answer)


def cost_forecast(ctx: Context, args: Args) -> Message | None:
    """Month-end forecast with an interval."""
    return _answer(ctx, args, forecast_answer)


def cost_anomalies(ctx: Context, args: Args) -> Message | None:
    """Cost anomalies in a period."""
    return _answer(ctx, args, anomalies_answer)


def cost_freshness(ctx: Context, args: Args) -> Message | None:
    """How fresh the billing data is."""
    return _answer(ctx, args, freshness_answer)


def feedback(session: Conn, *, value: str, status: str, actor: str, t: T, locale: str) -> Message:
    """Store feedback on an anomaly (once) and return the updated alert text."""
    try:
        anomaly_id = int(value)
    except ValueError:
        return Message.plain(t("Unknown anomaly."))
    changed = anomalies.record_feedback(session, anomaly_id=anomaly_id, status=status, actor=actor)
    a = anomalies.get(session, anomaly_id)
    if a is None:
        return Message.plain(t("Unknown anomaly."))
    if not changed:
        return Message.plain(t("Already marked as {status}.", status=t(a.status)))
    if status == anomalies.Status.DISMISSED:
        return Message.plain(
            t("Marked as not an anomaly; the threshold for {value} is raised.", value=a.value)
        )
    return Message.plain(t("Anomaly acknowledged."))


def _feedback(ctx: Context, value: str, status: str) -> Message | None:
    with ctx.session() as s:
        msg = feedback(
            s, value=value, status=status, actor=ctx.event.actor.id, t=ctx.t, locale=ctx.locale
        )
    ctx.audit(f"cost.{status}", f"anomaly:{value[:32]}", {})
    return msg


def on_ack(ctx: Context, value: str) -> Message | None:
    """Acknowledge a cost anomaly."""
    return _feedback(ctx, value, anomalies.Status.ACKNOWLEDGED)


def on_dismiss(ctx: Context, value: str) -> Message | None:
    """Mark a cost anomaly as not an anomaly (raises that dimension's threshold)."""
    return _feedback(ctx, value, anomalies.Status.DISMISSED)


# -- CLI and jobs -----------------------------------------------------------------------
def ingest_cli(engine: Engine, path: str | None, settings: object = None) -> IngestReport:
    """`console-copilot billing ingest [PATH]`: a path, or a name under BILLING_SOURCE."""
    source = getattr(settings, "billing_source", None)
    options = from_settings(settings)
    if path is None:
        if not source:
            raise ValueError("give a PATH or set BILLING_SOURCE")
        target, root = Path(source), Path(source)
    elif source and not Path(path).is_absolute():
        target, root = resolve_under(Path(source), path), Path(source)
    else:
        target, root = Path(path), None
    return ingest_path(engine, target, root=root, tag_keys=options.tag_keys)


def format_ingest_report(report: IngestReport) -> str:
    """The CLI's printed summary: rows read, rejected, period covered, one line per file."""
    period = (
        f"{report.period_start:%Y-%m-%d %H:%M} – {report.period_end:%Y-%m-%d %H:%M} UTC"
        if report.period_start and report.period_end
        else "none"
    )
    lines = [
        f"rows read: {report.rows_read}",
        f"rows rejected: {report.rows_rejected}",
        f"period: {period}",
    ]
    for f in report.files:
        lines.append(f"  {f.status:<9} {f.name}" + (f"  {f.error}" if f.error else ""))
    return "\n".join(lines)


def refresh_from_source(engine: Engine, settings: object) -> IngestReport | None:
    """Scheduler job: ingest new or changed files under BILLING_SOURCE (unchanged are skipped)."""
    source = getattr(settings, "billing_source", None)
    if not source or not Path(source).exists():
        return None
    return ingest_path(engine, Path(source), tag_keys=from_settings(settings).tag_keys)


def anomaly_scan_job(
    engine: Engine, settings: object, *, now: datetime, t: T, locale: str = "en"
) -> list[Message]:
    """Scheduler job: alerts for anomalies not reported before (post each to the FinOps channel)."""
    options = from_settings(settings)
    with unit_of_work(engine) as s:
        found = anomalies.scan_new_anomalies(s, now, options)
    return [render.anomaly_alert(a, t, locale) for a in found]


def freshness_check(
    engine: Engine, settings: object, *, now: datetime, t: T, locale: str = "en"
) -> Message | None:
    """Scheduler job: an alert when the billing data is older than the threshold."""
    options = from_settings(settings)
    with engine.connect() as conn:
        f = queries.freshness(conn, now=now, threshold=options.stale_after)
    if not f.stale:
        return None
    return render.freshness_message(f, t, locale, now)


STALE_DEFAULT = timedelta(hours=6)
