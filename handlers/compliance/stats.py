"""Learning-loop figures computed from stored data: usage, incidents, automation, savings."""

from __future__ import annotations

import importlib
import io
import json
import statistics
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlmodel import Session, select

from storage.db import as_utc
from storage.models.billing import BillingAnomaly
from storage.models.compliance import Feedback
from storage.models.core import InboxEvent
from storage.models.incidents import Incident
from storage.models.runbooks import RunbookRun

Translate = Callable[..., str]
ATTEMPTED = ("succeeded", "failed", "interrupted", "running")
ACTOR_KINDS = ("command", "action", "mention", "submission", "message")


@dataclass
class Stats:
    start: datetime
    end: datetime
    daily_active: dict[date, int] = field(default_factory=dict)  # every day of the period
    commands: Counter[str] = field(default_factory=Counter)
    incidents: int = 0
    incidents_summarized: int = 0
    mttr_by_week: dict[date, float] = field(default_factory=dict)  # week start -> mean seconds
    runs_attempted: int = 0
    runs_succeeded: int = 0
    decision_seconds: list[float] = field(default_factory=list)
    onboarding_days: list[float] | None = None  # None: no partners tables
    savings: dict[str, float] = field(default_factory=dict)  # currency -> amount
    feedback_up: int = 0
    feedback_down: int = 0

    @property
    def days(self) -> int:
        return len(self.daily_active)

    @property
    def avg_daily_active(self) -> float:
        return sum(self.daily_active.values()) / self.days if self.days else 0.0

    @property
    def summarized_pct(self) -> float | None:
        return 100.0 * self.incidents_summarized / self.incidents if self.incidents else None

    @property
    def automation_rate(self) -> float | None:
        if not self.runs_attempted:
            return None
        return 100.0 * self.runs_succeeded / self.runs_attempted

    @property
    def median_decision(self) -> float | None:
        return statistics.median(self.decision_seconds) if self.decision_seconds else None

    @property
    def median_onboarding_days(self) -> float | None:
        return statistics.median(self.onboarding_days) if self.onboarding_days else None

    @property
    def helpfulness(self) -> float | None:
        n = self.feedback_up + self.feedback_down
        return 100.0 * self.feedback_up / n if n else None


def parse_period(raw: str | None, default: int = 30) -> int:
    """`30d`, `4w` or `30` -> days (1..366)."""
    if not raw:
        return default
    raw = raw.strip().lower()
    mult = 7 if raw.endswith("w") else 1
    try:
        n = int(raw.rstrip("dw")) * mult
    except ValueError:
        raise ValueError(raw) from None
    if not 1 <= n <= 366:
        raise ValueError(raw)
    return n


def _command_kind(kind: str, payload: str) -> str:
    try:
        ev = json.loads(payload)
    except ValueError:
        return kind
    if kind == "command" and ev.get("command"):
        return "/" + str(ev["command"]).lstrip("/")
    if kind == "action" and ev.get("action_id"):
        return "button " + str(ev["action_id"]).split(":", 1)[0]
    return kind


def _actor(payload: str) -> str | None:
    try:
        ev = json.loads(payload)
    except ValueError:
        return None
    actor = (ev.get("actor") or {}).get("id")
    if not actor or actor == "copilot":
        return None
    return f"{ev.get('platform', '')}:{actor}"


def _week(d: date) -> date:
    return d - timedelta(days=d.weekday())


def onboarding_cycle_days(session: Session, start: datetime, end: datetime) -> list[float] | None:
    """Days from start to completion of partner onboardings finished in the period.

    Reads the partners domain's tables when they exist: any table with a start column
    (`started_at` or `created_at`) and a completion column (`completed_at`, `onboarded_at`
    or `activated_at`). None when there is no partners module.
    """
    try:
        mod = importlib.import_module("storage.models.partners")
    except ImportError:
        return None
    from handlers.compliance.evidence import partner_tables

    del mod
    out: list[float] = []
    for model in partner_tables():
        cols = set(model.model_fields)
        begin = next((c for c in ("started_at", "created_at") if c in cols), None)
        done = next(
            (c for c in ("completed_at", "onboarded_at", "activated_at") if c in cols), None
        )
        if not begin or not done:
            continue
        for row in session.exec(select(model)).all():
            b, d = getattr(row, begin), getattr(row, done)
            if b and d and start <= as_utc(d) < end:
                out.append((as_utc(d) - as_utc(b)).total_seconds() / 86400)
    return out


def compute(session: Session, *, end: datetime, days: int) -> Stats:
    """Every figure for the `days` days before `end` (UTC days; today's partial day included)."""
    end = as_utc(end)
    last_day = end.date()
    first_day = last_day - timedelta(days=days - 1)
    start = datetime.combine(first_day, datetime.min.time(), tzinfo=UTC)
    st = Stats(start=start, end=end)
    actors: dict[date, set[str]] = defaultdict(set)
    for kind, payload, at in session.exec(
        select(InboxEvent.kind, InboxEvent.payload, InboxEvent.received_at).where(
            InboxEvent.received_at >= start,
            InboxEvent.received_at < end,  # type: ignore[operator]
        )
    ).all():
        if kind not in ACTOR_KINDS:
            continue
        who = _actor(payload)
        if who is None:
            continue
        actors[as_utc(at).date()].add(who)
        st.commands[_command_kind(kind, payload)] += 1
    st.daily_active = {
        first_day + timedelta(days=i): len(actors.get(first_day + timedelta(days=i), ()))
        for i in range(days)
    }

    incidents = session.exec(
        select(Incident).where(Incident.declared_at >= start, Incident.declared_at < end)  # type: ignore[operator]
    ).all()
    st.incidents = len(incidents)
    st.incidents_summarized = sum(1 for i in incidents if i.summary_count > 0)
    weekly: dict[date, list[float]] = defaultdict(list)
    for inc in session.exec(
        select(Incident).where(Incident.resolved_at >= start, Incident.resolved_at < end)  # type: ignore[operator]
    ).all():
        if inc.mttr_seconds is not None and inc.resolved_at is not None:
            weekly[_week(as_utc(inc.resolved_at).date())].append(inc.mttr_seconds)
    st.mttr_by_week = {w: sum(v) / len(v) for w, v in sorted(weekly.items())}

    runs = session.exec(
        select(RunbookRun).where(RunbookRun.created_at >= start, RunbookRun.created_at < end)  # type: ignore[operator]
    ).all()
    for r in runs:
        if r.started_at is not None and r.state in ATTEMPTED:
            st.runs_attempted += 1
            st.runs_succeeded += r.state == "succeeded"
        if r.level == "approval" and r.decided_at is not None:
            st.decision_seconds.append(
                (as_utc(r.decided_at) - as_utc(r.created_at)).total_seconds()
            )

    st.onboarding_days = onboarding_cycle_days(session, start, end)

    for a in session.exec(
        select(BillingAnomaly).where(BillingAnomaly.status == "acknowledged")
    ).all():
        when = as_utc(a.feedback_at or a.detected_at)
        if start <= when < end:
            st.savings[a.currency] = st.savings.get(a.currency, 0.0) + max(a.impact, 0.0)

    for vote in session.exec(
        select(Feedback.vote).where(Feedback.at >= start, Feedback.at < end)  # type: ignore[operator]
    ).all():
        if vote == "up":
            st.feedback_up += 1
        elif vote == "down":
            st.feedback_down += 1
    for vote in answer_votes(session, start, end):
        if vote == "up":
            st.feedback_up += 1
        elif vote == "down":
            st.feedback_down += 1
    return st


def answer_votes(session: Session, start: datetime, end: datetime) -> list[str]:
    """Votes on `/copilot ask` answers (the copilot domain's own table), when it exists."""
    try:
        mod = importlib.import_module("storage.models.copilot")
    except ImportError:
        return []
    model = getattr(mod, "CopilotFeedback", None)
    if model is None:
        return []
    return list(
        session.exec(
            select(model.vote).where(model.created_at >= start, model.created_at < end)
        ).all()
    )


def _duration(t: Translate, seconds: float) -> str:
    if seconds < 120:
        return t("{n} s", n=round(seconds))
    if seconds < 5400:
        return t("{n} min", n=round(seconds / 60))
    return t("{n} h", n=format(seconds / 3600, ".1f"))


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{value:.0f}%"


def figures(st: Stats, t: Translate) -> list[tuple[str, str]]:
    """(label, value) pairs for the chat message."""
    mttr = list(st.mttr_by_week.values())
    trend = " → ".join(_duration(t, v) for v in mttr[-4:]) if mttr else "—"
    decision = st.median_decision
    onboarding = st.median_onboarding_days
    savings = ", ".join(f"{v:,.2f} {c}" for c, v in sorted(st.savings.items())) or "—"
    out = [
        (t("Daily active operators (avg)"), f"{st.avg_daily_active:.1f}"),
        (t("Incidents summarized"), f"{_pct(st.summarized_pct)} ({st.incidents})"),
        (t("MTTR by week"), trend),
        (
            t("Automation success"),
            f"{_pct(st.automation_rate)} ({st.runs_succeeded}/{st.runs_attempted})",
        ),
        (
            t("Approval time to decision (median)"),
            "—" if decision is None else _duration(t, decision),
        ),
        (t("Cost savings (acknowledged anomalies)"), savings),
        (
            t("Helpfulness"),
            f"{_pct(st.helpfulness)} (👍 {st.feedback_up} / 👎 {st.feedback_down})",
        ),
    ]
    if st.onboarding_days is not None:
        out.append(
            (
                t("Partner onboarding cycle (median)"),
                "—" if onboarding is None else t("{n} days", n=format(onboarding, ".1f")),
            )
        )
    return out


def chart_png(st: Stats, t: Translate) -> bytes:
    """A 2×2 dashboard: active operators per day, commands by kind, MTTR by week, rates."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    fig = Figure(figsize=(10, 7), dpi=90)
    ax = fig.subplots(2, 2)
    days = list(st.daily_active)
    ax[0][0].plot(days, list(st.daily_active.values()), marker=".")
    ax[0][0].set_title(t("Daily active operators"))
    ax[0][0].tick_params(axis="x", labelrotation=45, labelsize=7)
    top = st.commands.most_common(8)
    ax[0][1].barh([k for k, _ in top][::-1], [v for _, v in top][::-1])
    ax[0][1].set_title(t("Commands by kind"))
    weeks = list(st.mttr_by_week)
    ax[1][0].bar([w.isoformat() for w in weeks], [v / 60 for v in st.mttr_by_week.values()])
    ax[1][0].set_title(t("MTTR by week (min)"))
    ax[1][0].tick_params(axis="x", labelrotation=45, labelsize=7)
    rates = [
        (t("summarized"), st.summarized_pct),
        (t("automation"), st.automation_rate),
        (t("helpful"), st.helpfulness),
    ]
    ax[1][1].bar([k for k, _ in rates], [v or 0 for _, v in rates])
    ax[1][1].set_ylim(0, 100)
    ax[1][1].set_title(t("Rates (%)"))
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()


def as_metrics(st: Stats) -> dict[str, Any]:
    """The figures as plain numbers (for /metrics)."""
    return {
        "daily_active": st.avg_daily_active,
        "summarized_ratio": (st.summarized_pct or 0.0) / 100,
        "automation_ratio": (st.automation_rate or 0.0) / 100,
        "runs_attempted": st.runs_attempted,
        "decision_median": st.median_decision or 0.0,
        "helpfulness_ratio": (st.helpfulness or 0.0) / 100,
        "savings": dict(st.savings),
        "commands": dict(st.commands),
    }
