"""Every message kind, in both languages, through both platform renderers.

Russian output must not carry English phrases from the catalog, must use Russian number and
date formats, and must stay within the Slack and Mattermost limits.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta

import pytest

from bot import help as help_
from bot.dispatch import error_message
from bot.i18n import Translator, translator
from bot.i18n_catalog import load
from bot.messages import Message, Section
from bot.platforms import mattermost_render, slack_render
from bot.router import Router, UsageError
from handlers import register_all
from handlers.billing.anomalies import Anomaly
from handlers.billing.queries import Line, Period, Summary
from handlers.billing.render import anomaly_alert, summary_message
from handlers.digests import Digest, Level, Row, SectionResult, render_digest
from handlers.incidents import render as inc_render
from handlers.incidents.extractive import extractive_summary
from handlers.incidents.postmortem import TimelineEntry as PmEntry
from handlers.incidents.postmortem import render_postmortem
from handlers.incidents.summary_render import render_summary
from handlers.incidents.summary_types import ChatLine
from runbooks.messages import run_message
from runbooks.runs import RunView, StepView
from storage.models.incidents import Incident, TimelineEntry
from tests.fakes.mattermost_contract import check_post
from tests.fakes.slack_contract import check_blocks
from tests.fakes.warroom import incident as war_meta

NOW = datetime(2026, 11, 29, 14, 5, tzinfo=UTC)
DECLARED = NOW - timedelta(minutes=95)


def _router() -> Router:
    router = Router()
    register_all(router)
    return router


def _incident(resolved: bool = False) -> Incident:
    return Incident(
        id=7, number=7, title="checkout 502", severity=1, service="checkout",
        status="resolved" if resolved else "investigating", commander_id="U1",
        commander_name="alice", declared_by="U1", declared_by_name="alice", platform="slack",
        channel_id="C7", channel_name="inc-7", declared_at=DECLARED,
        last_update_at=NOW - timedelta(minutes=20), last_update_text="rolled back",
        resolved_at=NOW if resolved else None, mttr_seconds=5700 if resolved else None,
    )  # fmt: skip


def _lines() -> list[ChatLine]:
    texts = [
        "checkout returns 502 for 30% of users",
        "rolling back deploy 1.42",
        "rollback done, errors dropping",
        "why did the canary not catch it?",
        "next: add a canary check for 5xx",
    ]
    return [
        ChatLine(ts=DECLARED + timedelta(minutes=5 * i), id=f"m{i}", user="alice", text=text)
        for i, text in enumerate(texts)
    ]


def _run(state: str) -> RunView:
    steps = (
        StepView(idx=0, phase="check", name="pods ready", kind="wait_ready", state="succeeded"),
        StepView(idx=1, phase="act", name="restart", kind="rollout_restart", state="running"),
    )
    return RunView(
        id=42, runbook="restart-deployment", title="Restart a deployment", risk="medium",
        state=state, params={"deployment": "checkout"}, requester="U1", requester_name="alice",
        platform="slack", channel="C1", level="approval", policy={"approvals": 1}, plan=[
            "deployment/checkout: restart"], steps=steps, approvals=(), reason=None,
        message_key=None, created_at=DECLARED, expires_at=NOW + timedelta(minutes=30),
        started_at=NOW if state == "running" else None, finished_at=None,
    )  # fmt: skip


def _digest() -> Digest:
    errors = SectionResult(
        id="errors", title="Top error rates", kind="error_rate", level=Level.RED, total=3,
        breaching=1, rows=[Row(key="checkout", label="checkout", value=0.1234, previous=0.05,
                               level=Level.RED, trend="↑")],
    )  # fmt: skip
    latency = SectionResult(
        id="latency", title="Latency p95 / p99", kind="latency", level=Level.AMBER, total=2,
        breaching=1, rows=[Row(key="api", label="api", value=1.5, previous=0.25,
                               level=Level.AMBER, extra={"p95": 0.8})],
    )  # fmt: skip
    return Digest(generated_at=NOW, window="1h", status=Level.RED, sections=[errors, latency],
                  status_sections=["errors"])  # fmt: skip


def _cost_summary() -> Summary:
    period = Period(date(2026, 11, 1), date(2026, 11, 29), "month")
    prev = Period(date(2026, 10, 1), date(2026, 10, 29), "month")
    lines = [Line("compute", "Compute", "RUB", 1234.56, 1000.0)]
    return Summary(period=period, previous=prev, by="service", lines=lines, totals=lines)


def _anomaly() -> Anomaly:
    return Anomaly(
        id=1, key="k", dimension="service", value="Compute", currency="RUB",
        day=date(2026, 11, 29), actual=1234.56, expected=300.0, impact=934.56, score=9.0,
        contributors=[("vm-1", 900.0)],
    )  # fmt: skip


def _usage_error(tr: Translator) -> Message:
    try:
        _router().route("copilot", "nope", tr.t)
    except UsageError as exc:
        return help_.usage_error(exc, "copilot", tr)
    raise AssertionError("no usage error")


def _postmortem(tr: Translator) -> Message:
    meta = war_meta().model_copy(update={"declared_at": DECLARED, "resolved_at": NOW})
    summary = extractive_summary(meta, _lines(), language=tr.locale)
    entries = [PmEntry(ts=DECLARED, kind="declared", text="declared", actor="alice")]
    text = render_postmortem(meta, entries, summary, t=tr.t, now=NOW)
    return Message(text=text[:200], blocks=[Section(text=text[:2900])])


MESSAGES: dict[str, Callable[[Translator], Message]] = {
    "help overview": lambda tr: help_.overview(_router(), tr),
    "help incident": lambda tr: help_.group_help(_router().commands["incident"], "", tr),
    "usage error": _usage_error,
    "error": lambda tr: error_message(tr, "abcd1234"),
    "incident header": lambda tr: inc_render.header(tr, _incident(), NOW),
    "incident resolved header": lambda tr: inc_render.header(tr, _incident(True), NOW),
    "incident announcement": lambda tr: inc_render.announcement(tr, _incident()),
    "incident status": lambda tr: inc_render.status_post(tr.t, _incident(), "ok", "U1", "alice"),
    "incident resolved": lambda tr: inc_render.resolved_post(
        tr.t, _incident(True), "fixed", "U1", "alice"
    ),
    "incident reminder": lambda tr: inc_render.digest(tr, _incident(), NOW, stale=True),
    "incident list": lambda tr: inc_render.incident_list(tr, [_incident()], NOW),
    "incident timeline": lambda tr: inc_render.timeline(
        tr, _incident(), [TimelineEntry(id=1, incident_id=7, at=DECLARED, kind="declared")], {}
    ),
    "incident summary": lambda tr: render_summary(
        extractive_summary(war_meta(), _lines(), language=tr.locale), tr.t, title="INC-7"
    ),
    "postmortem": _postmortem,
    "runbook approval": lambda tr: run_message(_run("pending_approval"), tr.t),
    "runbook progress": lambda tr: run_message(_run("running"), tr.t),
    "digest": lambda tr: render_digest(_digest(), tr.t),
    "cost summary": lambda tr: summary_message(_cost_summary(), tr.t, tr.locale, chart=False),
    "cost alert": lambda tr: anomaly_alert(_anomaly(), tr.t, tr.locale),
}


NAMES = {"Console Copilot"}


def _code_or_name(part: str) -> bool:
    """Commands, options and product names stay the same words in both languages."""
    return part in NAMES or part.startswith(("/", "--")) or "|" in part


def _english_phrases() -> list[str]:
    """Literal runs of English from every catalog string that Russian translates."""
    ru = load("ru")
    out: set[str] = set()
    for msg in ru:
        if not msg.id or not msg.string:
            continue
        ids = msg.id if isinstance(msg.id, tuple) else (msg.id,)
        for msgid in ids:
            for part in re.split(r"\{[^{}]*\}|[*_`()\[\]:;·—…\n]", msgid):
                part = part.strip(" .,!?")
                if len(part) >= 12 and len(part.split()) >= 2 and not _code_or_name(part):
                    out.add(part)
    return sorted(out)


ENGLISH = _english_phrases()
KNOWN_WORDS = re.compile(
    r"\b(Incident|Severity|Commander|Declared|Approve|Reject|Runbook|Requested by|Status digest|"
    r"Window|Summary|Timeline|expected|Something went wrong|Unknown|ago|Risk|Parameters)\b"
)


def _render(msg: Message, platform: str) -> str:
    if platform == "slack":
        out = slack_render.render(msg)
        problems = check_blocks(out["blocks"])
        assert not problems, problems
    else:
        out = mattermost_render.render(msg, action_url="http://bot.invalid/a", secret="s",
                                       channel_id="C1")  # fmt: skip
        problems = check_post({"channel_id": "C1", **out})
        assert not problems, problems
    return json.dumps(out, ensure_ascii=False)


@pytest.mark.parametrize("platform", ["slack", "mattermost"])
@pytest.mark.parametrize("kind", sorted(MESSAGES))
def test_every_message_renders_in_both_languages(kind: str, platform: str) -> None:
    en = _render(MESSAGES[kind](translator("en")), platform)
    ru = _render(MESSAGES[kind](translator("ru")), platform)
    assert en != ru, f"{kind}: the Russian message is the English one"
    assert re.search("[А-Яа-яЁё]", ru), f"{kind}: no Russian at all"
    leftovers = [p for p in ENGLISH if p in ru]
    assert not leftovers, f"{kind}: English left in Russian output: {leftovers}"
    words = KNOWN_WORDS.findall(ru)
    assert not words, f"{kind}: English words in Russian output: {words}"


def _plain(text: str) -> str:
    return text.replace("\u202f", " ").replace("\xa0", " ")


@pytest.mark.parametrize("platform", ["slack", "mattermost"])
def test_russian_formats(platform: str) -> None:
    ru, en = translator("ru"), translator("en")
    cost = _plain(_render(MESSAGES["cost summary"](ru), platform))
    assert "1 234,56 ₽" in cost
    assert "₽1,234.56" in _render(MESSAGES["cost summary"](en), platform)
    header = _plain(_render(MESSAGES["incident header"](ru), platform))
    assert "29 нояб. 2026 г., 12:30" in header
    assert "Nov 29, 2026, 12:30" in _render(MESSAGES["incident header"](en), platform)
    digest = _plain(_render(MESSAGES["digest"](ru), platform))
    assert "12,3 %" in digest and "1,50 с" in digest and "29 нояб. 2026 г., 14:05" in digest
    pm = _plain(_render(MESSAGES["postmortem"](ru), platform))
    assert "## Хронология" in pm or "Хронология" in pm
    assert "29 нояб. 2026 г." in pm


def test_every_kind_is_listed() -> None:
    """New message kinds belong here: the list covers the issue's required kinds."""
    required = {"help overview", "usage error", "error", "incident header", "incident status",
                "incident summary", "postmortem", "runbook approval", "runbook progress",
                "digest", "cost summary", "cost alert"}  # fmt: skip
    assert required <= set(MESSAGES)
