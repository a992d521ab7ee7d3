"""Summaries and postmortems of an incident: chat history → the summarizer → stored + posted."""

from __future__ import annotations

import base64
import logging
from typing import Any

from bot.context import Context
from bot.i18n import translator
from bot.messages import Attachment, Message, Section
from bot.messages import Context as Note
from bot.platforms.base import ChatError, HistoryMessage
from bot.router import UsageError
from handlers.compliance.feedback import buttons as feedback_buttons
from handlers.incidents import render
from handlers.incidents.postmortem import (
    PostmortemTemplateError,
    render_postmortem,
)
from handlers.incidents.postmortem import (
    TimelineEntry as PostmortemEntry,
)
from handlers.incidents.summary import (
    ChatLine,
    IncidentMeta,
    LineKind,
    Summary,
    budget_from_settings,
    render_summary,
    summarize,
)
from storage import incidents as repo
from storage.models.incidents import Incident

log = logging.getLogger(__name__)
LLM_KEY = "incidents.llm"
PREVIEW_CHARS = 2800


def meta_of(inc: Incident) -> IncidentMeta:
    return IncidentMeta(
        id=render.ref(inc),
        title=inc.title,
        severity=inc.severity,
        status=inc.status,
        commander=inc.commander_name or inc.commander_id,
        service=inc.service,
        declared_at=inc.declared_at,
        resolved_at=inc.resolved_at,
        channel=inc.channel_name or inc.channel_id,
    )


def _line(m: HistoryMessage) -> ChatLine:
    kind = LineKind.MESSAGE
    if m.is_bot:
        low = m.text.lower()
        kind = LineKind.STATUS if "status" in low else LineKind.ALERT if "alert" in low else kind
    return ChatLine(
        ts=m.ts,
        id=m.id,
        user=m.user_name or m.user_id,
        text=m.text,
        thread_id=m.thread_id,
        permalink=m.permalink,
        kind=kind,
    )


def _llm(ctx: Context) -> Any:
    if ctx.services.llm is not None:
        return ctx.services.llm
    if not ctx.settings.anthropic_api_key:
        return None
    cached = ctx.services.extra.get(LLM_KEY)
    if cached is None:
        from bot.clients.llm import make_llm

        cached = ctx.services.extra[LLM_KEY] = make_llm(ctx.settings)
    return cached


def summarize_incident(ctx: Context, inc: Incident) -> Summary:
    """Summarize the war room (incrementally on the last summary), store, post, timeline."""
    if not inc.channel_id:
        raise UsageError(ctx.t("{ref} has no channel to summarize.", ref=render.ref(inc)))
    try:
        history = ctx.chat.history(inc.channel_id)
    except ChatError as exc:
        raise UsageError(
            ctx.t("Could not read the channel history: {reason}", reason=str(exc)[:200])
        ) from None
    lines = [_line(m) for m in history if m.text.strip()]
    previous = Summary.model_validate_json(inc.summary_json) if inc.summary_json else None
    # The summary is posted for the whole war room: the model writes in the room's language.
    language = ctx.channel_locale(inc.channel_id, default=inc.locale)
    room_t = translator(language).t
    summary = summarize(
        meta_of(inc),
        lines,
        t=room_t,
        llm=_llm(ctx),
        previous=previous,
        language=language,
        budget=budget_from_settings(ctx.settings),
    )
    now = ctx.now()
    message = render_summary(summary, room_t, title=f"{render.ref(inc)}: {inc.title}")
    if len(message.blocks) < 50:
        rate = feedback_buttons(
            room_t, f"incident:{inc.id}:summary:{inc.summary_count + 1}", "summary"
        )
        message = message.model_copy(update={"blocks": [*message.blocks, rate]})
    with ctx.session() as s:
        row = repo.get(s, incident_id=inc.id or 0)
        assert row is not None
        row.summary_json = summary.model_dump_json()
        row.summary_mode = summary.mode
        row.summarized_at = now
        row.summary_count = (row.summary_count or 0) + 1
        s.add(row)
        key = ctx.post(inc.channel_id, message)
        repo.add_timeline(
            s,
            incident_id=row.id or 0,
            kind="summary",
            text=ctx.t(
                "Summary ({mode}) of {n} messages", mode=summary.mode, n=summary.message_count
            ),
            actor=ctx.actor.label,
            at=now,
            message_key=key,
        )
        ctx.audit("incident.summarize", render.ref(row), {"mode": summary.mode})
    return summary


def postmortem_message(ctx: Context, inc: Incident) -> Message:
    """The postmortem draft: a preview and the full Markdown as a file."""
    with ctx.session() as s:
        entries = repo.timeline(s, incident_id=inc.id or 0)
    if inc.summary_json:
        summary = Summary.model_validate_json(inc.summary_json)
    else:
        summary = summarize(meta_of(inc), [], t=ctx.t, language=ctx.locale)
    timeline = [
        PostmortemEntry(ts=e.at, kind=e.kind, text=e.text, actor=e.actor or None, link=e.link)
        for e in entries
    ]
    try:
        text = render_postmortem(
            meta_of(inc),
            timeline,
            summary,
            t=ctx.t,
            template_path=ctx.settings.copilot_postmortem_template,
            now=ctx.now(),
        )
    except PostmortemTemplateError as exc:
        raise UsageError(
            ctx.t("The postmortem template failed: {reason}", reason=str(exc))
        ) from None
    preview = text if len(text) <= PREVIEW_CHARS else text[: PREVIEW_CHARS - 1] + "…"
    filename = f"postmortem-{render.ref(inc).lower()}.md"
    lead = ctx.t("Postmortem draft for {ref}", ref=render.ref(inc))
    return Message(
        text=lead,
        blocks=[
            Section(text=f"**{lead}**"),
            Section(text="```\n" + preview.replace("```", "ʼʼʼ") + "\n```"),
            Note(text=ctx.t("The full draft is attached as {file}.", file=filename)),
        ],
        attachments=[
            Attachment(
                filename=filename,
                title=lead,
                content_b64=base64.b64encode(text.encode("utf-8")).decode("ascii"),
            )
        ],
    )
