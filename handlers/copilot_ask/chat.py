"""Chat handlers: `@copilot <question>`, `/copilot ask <question>`, `/copilot feedback`, and the
helpful / not helpful buttons.

One question: rate limits, a "thinking…" message, the tool-use loop (or the non-LLM mode when
no API key is set, or when the model is unavailable), then the answer edited into that message
with an evidence block and feedback buttons. Everything is recorded in storage/copilot.py.
"""

from __future__ import annotations

import json
import time
from datetime import timedelta
from typing import Any

from bot.clients.llm import LLMUnavailable
from bot.context import Context
from bot.events import EventKind
from bot.i18n import N_
from bot.messages import Actions, Button, Message, Section, user_text
from bot.messages import Context as Note
from bot.redact import redact
from bot.router import Args, Router, UsageError
from handlers.copilot_ask import loop, memory, rules_answer
from handlers.copilot_ask.limits import RateLimiter
from handlers.copilot_ask.tools import Result, ToolEnv
from runbooks.runs import Requester, RunView
from storage import copilot as repo
from storage.models.copilot import CopilotQuestion, CopilotToolCall

LIMITER_KEY = "copilot_limiter"
LLM_KEY = "copilot_llm"
OPTIONS_KEY = "copilot_options"  # Services.extra: {"stream": bool, "max_tool_calls": int, ...}
FEEDBACK_UP = "copilot:feedback:up"
FEEDBACK_DOWN = "copilot:feedback:down"
MEMORY_WINDOW = timedelta(hours=12)
MAX_QUESTION_CHARS = 2000
MAX_ANSWER_CHARS = 3500


def register(router: Router) -> None:
    g = router.command("copilot", help=N_("The assistant: help, language, questions"))
    g.sub(
        "ask",
        copilot_ask,
        help=N_("Ask a question about services, incidents, costs (or @copilot in a channel)"),
        usage="ask <question>",
        min_args=1,
    )
    g.sub(
        "feedback",
        copilot_feedback,
        help=N_("Rate an answer: helpful (up) or not (down)"),
        usage="feedback <question-id> up|down",
        min_args=2,
        max_args=2,
    )
    router.mention(on_mention)
    router.action(FEEDBACK_UP, lambda ctx, value: _feedback(ctx, value, "up"))
    router.action(FEEDBACK_DOWN, lambda ctx, value: _feedback(ctx, value, "down"))


# -- entry points -------------------------------------------------------------------------------


def copilot_ask(ctx: Context, args: Args) -> Message | None:
    """Answer a question (tools with a model, commands without)."""
    return ask(ctx, args.text or args.rest)


def on_mention(ctx: Context) -> Message | None:
    """`@copilot <question>` in a channel or thread."""
    return ask(ctx, ctx.event.text)


def copilot_feedback(ctx: Context, args: Args) -> Message | None:
    """Rate an answer from the command line."""
    vote = args.positional[1].lower()
    if vote not in ("up", "down"):
        raise UsageError(ctx.t("The vote is up or down."), usage="feedback <question-id> up|down")
    return _feedback(ctx, args.positional[0], vote)


def _feedback(ctx: Context, value: str, vote: str) -> Message | None:
    try:
        qid = int(value.lstrip("#"))
    except ValueError:
        raise UsageError(ctx.t("A question id is a number, e.g. 12.")) from None
    with ctx.session() as s:
        if repo.get_question(s, question_id=qid) is None:
            raise UsageError(ctx.t("No question #{id}.", id=qid))
        repo.set_feedback(
            s, question_id=qid, platform=str(ctx.event.platform), user_id=ctx.actor.id, vote=vote
        )
    text = (
        ctx.t("Thanks, noted as helpful.")
        if vote == "up"
        else ctx.t("Thanks, noted as not helpful.")
    )
    ctx.answer(Message.plain(text), ephemeral=True)
    return None


# -- one question ---------------------------------------------------------------------------------


def conversation_key(ctx: Context) -> str:
    """The thread a question belongs to (follow-ups in the same thread share memory)."""
    ev = ctx.event
    thread = ev.thread_id
    if thread is None and ev.kind in (EventKind.MENTION, EventKind.MESSAGE):
        thread = ev.message_id
    return f"{ev.platform}:{ev.channel.id}:{thread or 'user:' + ev.actor.id}"


def limiter(ctx: Context) -> RateLimiter:
    extra = ctx.services.extra
    lim = extra.get(LIMITER_KEY)
    if lim is None:
        lim = extra[LIMITER_KEY] = RateLimiter()
    return lim


def llm_for(ctx: Context) -> Any:
    """The model client (None without ANTHROPIC_API_KEY)."""
    if ctx.services.llm is not None:
        return ctx.services.llm
    if not ctx.settings.anthropic_api_key:
        return None
    cached = ctx.services.extra.get(LLM_KEY)
    if cached is None:
        from bot.clients.llm import make_llm

        cached = ctx.services.extra[LLM_KEY] = make_llm(ctx.settings)
    return cached


def ask(ctx: Context, question: str) -> Message | None:
    """The whole flow for one question; replies itself and returns None."""
    t = ctx.t
    question = question.strip()
    if not question:
        ctx.answer(
            Message.plain(t("Ask me a question, e.g. “why is checkout slow?”")), ephemeral=True
        )
        return None
    question = question[:MAX_QUESTION_CHARS]
    ev = ctx.event
    decision = limiter(ctx).check(
        user=f"{ev.platform}:{ev.actor.id}",
        channel=f"{ev.platform}:{ev.channel.id}",
        now=time.monotonic(),
    )
    if not decision.allowed:
        text = (
            t(
                "You are asking faster than I can answer; try again in {n} s.",
                n=decision.retry_after,
            )
            if decision.scope == "user"
            else t(
                "This channel is asking a lot right now; try again in {n} s.",
                n=decision.retry_after,
            )
        )
        ctx.answer(Message.plain("⏳ " + text), ephemeral=True)
        return None
    llm = llm_for(ctx)
    convo = conversation_key(ctx)
    with ctx.session() as s:
        row = repo.add_question(
            s,
            question=CopilotQuestion(
                conversation=convo,
                platform=str(ev.platform),
                channel_id=ev.channel.id,
                user_id=ev.actor.id,
                user_name=ev.actor.label,
                question=question,
                mode="llm" if llm else "rules",
            ),
        )
        qid = row.id or 0
        earlier = repo.history(s, conversation=convo, since=ctx.now() - MEMORY_WINDOW)
        earlier = [q for q in earlier if q.id != qid and q.mode == "llm"]
    if llm is None:
        msg = rules_answer.answer(ctx, question)
        final = _with_feedback(ctx, msg, qid)
        key = ctx.reply(final)
        with ctx.session() as s:
            repo.finish_question(s, question_id=qid, answer=msg.text, mode="rules", message_key=key)
        return None
    key = ctx.reply(Message.plain("🤔 " + t("Thinking…")))
    with ctx.session() as s:
        repo.finish_question(
            s, question_id=qid, answer="", mode="llm", status="asked", message_key=key
        )
    options = ctx.services.extra.get(OPTIONS_KEY) or {}
    env = _env(ctx, qid)
    seq = [0]

    def record(result: Result) -> None:
        seq[0] += 1
        with ctx.session() as s:
            repo.add_tool_call(
                s,
                call=CopilotToolCall(
                    question_id=qid,
                    seq=seq[0],
                    tool=result.name,
                    args=json.dumps(result.args, ensure_ascii=False, default=str)[:4000],
                    outcome=result.outcome,
                    summary=result.summary,
                    duration_ms=round(result.duration_ms, 2),
                    run_id=result.run_id,
                ),
            )

    messages = memory.history_messages(earlier, budget=int(options.get("memory_tokens", 6000)))
    messages.append({"role": "user", "content": memory.question_block(ev.actor.label, question)})
    try:
        out = loop.run(
            llm,
            messages=messages,
            env=env,
            locale=ctx.locale,
            max_tool_calls=int(options.get("max_tool_calls", loop.MAX_TOOL_CALLS)),
            max_rounds=int(options.get("max_rounds", loop.MAX_ROUNDS)),
            stream=bool(options.get("stream", False)),
            on_call=record,
        )
    except LLMUnavailable as exc:
        note = t(
            "The language model is unavailable ({reason}); here is what I can tell without it.",
            reason=exc.reason,
        )
        msg = rules_answer.answer(ctx, question)
        fallback = Message(
            text=note + "\n" + msg.text, blocks=[Note(text="⚠️ " + note), *msg.blocks]
        )
        ctx.update(key, _with_feedback(ctx, fallback, qid))
        with ctx.session() as s:
            repo.finish_question(
                s,
                question_id=qid,
                answer=msg.text,
                mode="fallback",
                status="failed",
                error=exc.reason,
            )
        return None
    answer = redact(out.text) or t("I could not find an answer within my limits.")
    if len(answer) > MAX_ANSWER_CHARS:
        answer = answer[: MAX_ANSWER_CHARS - 1] + "…"
    if out.stopped == "limit":
        answer += "\n" + t("(I stopped at my tool-call limit; the answer may be incomplete.)")
    msg = _answer_message(ctx, answer, out.calls)
    ctx.update(key, _with_feedback(ctx, msg, qid))
    with ctx.session() as s:
        repo.finish_question(
            s,
            question_id=qid,
            answer=answer,
            mode="llm",
            tool_calls=len(out.calls),
            rounds=out.rounds,
            input_tokens=out.input_tokens,
            output_tokens=out.output_tokens,
        )
    return None


def _env(ctx: Context, qid: int) -> ToolEnv:
    from handlers.runbooks import service_for
    from runbooks.messages import run_message

    ev = ctx.event
    services = ctx.services
    thread = ev.thread_id or (ev.message_id if ev.kind == EventKind.MENTION else None)

    def post_proposal(view: RunView, reason: str) -> str | None:
        svc = service_for(ctx.runtime)
        key = ctx.post(ev.channel.id, run_message(view, ctx.t), thread_id=thread)
        svc.set_message_key(view.id, key)
        return key

    return ToolEnv(
        engine=ctx.engine,
        prometheus=services.prometheus,
        alertmanager=services.alertmanager,
        kubernetes=services.kubernetes,
        runbook_service=lambda: service_for(ctx.runtime),
        requester=Requester(ev.actor.id, str(ev.platform), ev.actor.label, ev.channel.id, thread),
        t=ctx.t,
        now=ctx.now,
        request_key=f"copilot:{qid}",
        post_proposal=post_proposal,
    )


def _answer_message(ctx: Context, answer: str, calls: list[Result]) -> Message:
    blocks: list[Any] = [Section(text=answer)]
    if calls:
        lines = [
            f"{i}. `{c.name}` — {user_text(c.summary, limit=200)}"
            + ("" if c.outcome in ("ok", "proposed") else f" ({c.outcome})")
            for i, c in enumerate(calls, 1)
        ]
        blocks.append(Note(text=ctx.t("Evidence:") + "\n" + "\n".join(lines)))
    else:
        blocks.append(Note(text=ctx.t("No tools were called for this answer.")))
    return Message(text=answer, blocks=blocks)


def _with_feedback(ctx: Context, msg: Message, qid: int) -> Message:
    buttons = Actions(
        buttons=[
            Button(label="👍 " + ctx.t("Helpful"), action_id=FEEDBACK_UP, value=str(qid)),
            Button(label="👎 " + ctx.t("Not helpful"), action_id=FEEDBACK_DOWN, value=str(qid)),
        ]
    )
    return Message(text=msg.text, blocks=[*msg.blocks, buttons], attachments=msg.attachments)
