"""Run the command a non-LLM intent names and say which command answered."""

from __future__ import annotations

from bot.context import Context
from bot.messages import Context as Note
from bot.messages import Message, Section
from handlers.copilot_ask.rules import Intent, classify


def answer(ctx: Context, question: str) -> Message:
    """The command's answer to a common question, or help when it is not one."""
    intent = classify(question)
    t = ctx.t
    try:
        msg, command = _run(ctx, intent)
    except Exception as exc:  # a source outage is an answer, not a crash
        reason = getattr(exc, "reason", None) or getattr(exc, "message", None) or type(exc).__name__
        return Message.plain(t("I could not get that answer: {reason}", reason=str(reason)[:200]))
    if command is None:
        return msg
    note = Note(text=t("Answered without the language model, by {command}", command=command))
    return Message(text=msg.text, blocks=[*msg.blocks, note], attachments=msg.attachments)


def _run(ctx: Context, intent: Intent) -> tuple[Message, str | None]:
    t = ctx.t
    if intent.kind == "cost":
        from handlers.billing.commands import CostParams, summary_answer
        from handlers.billing.options import from_settings

        period = intent.args.get("period", "7d")
        params = CostParams(
            now=ctx.now(), period=period, by="service", options=from_settings(ctx.settings)
        )
        with ctx.session() as s:
            msg = summary_answer(s, params, t, ctx.locale)
        return msg, f"/cost summary --period {period} --by service"
    if intent.kind == "status":
        from handlers.digests.commands import _config
        from handlers.digests.engine import build_digest
        from handlers.digests.render import render_digest

        service = intent.args.get("service")
        digest = build_digest(
            prom=ctx.services.prometheus,
            alertmanager=ctx.services.alertmanager,
            config=_config(ctx),
            window="1h",
            service=service,
            now=ctx.now(),
            providers=ctx.services.extra.get("digest_providers") or {},
        )
        command = "/digest now" + (f" --service {service}" if service else "")
        return render_digest(digest, t), command
    if intent.kind == "incidents":
        from handlers.incidents import render
        from storage import incidents as repo

        open_only = bool(intent.args.get("open"))
        with ctx.session() as s:
            rows = repo.list_incidents(s, open_only=open_only)
            msg = render.incident_list(ctx.i18n, rows, ctx.now())
        return msg, "/incident list" + (" --open" if open_only else "")
    if intent.kind == "runbooks":
        from handlers.runbooks import service_for
        from runbooks.messages import catalog_message

        return catalog_message(service_for(ctx.runtime).catalog, t), "/runbook list"
    text = t(
        "I can answer without a language model: “cost of checkout last week”, “status of "
        "service checkout”, “why is checkout slow?”, “open incidents”, “runbooks” (also in "
        "Russian: “сколько стоил…”, “статус сервиса…”, “открытые инциденты”). Set "
        "ANTHROPIC_API_KEY for free-form questions. See /copilot help."
    )
    return Message(text=text, blocks=[Section(text=text)]), None
