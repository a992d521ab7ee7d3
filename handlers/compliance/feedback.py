"""👍/👎 buttons under the bot's digests, summaries and stats; votes stored with context."""

from __future__ import annotations

from collections.abc import Callable

from bot.context import Context
from bot.messages import Actions, Button, Message
from bot.router import UsageError
from storage import compliance as repo

UP = "feedback:up"
DOWN = "feedback:down"
KINDS = ("digest", "summary", "answer", "stats", "scan")


def buttons(t: Callable[..., str], subject: str, kind: str) -> Actions:
    """The two feedback buttons for a post (`subject` names what is rated, e.g. incident:3)."""
    value = f"{kind}|{subject}"[:255]
    return Actions(
        buttons=[
            Button(label="👍 " + t("Helpful"), action_id=UP, value=value),
            Button(label="👎 " + t("Not helpful"), action_id=DOWN, value=value),
        ]
    )


def on_vote(ctx: Context, value: str) -> Message | None:
    """Store (or replace) the clicker's vote; thank them privately."""
    kind, _, subject = value.partition("|")
    if kind not in KINDS or not subject:
        raise UsageError(ctx.t("This button is no longer valid."))
    ev = ctx.event
    vote = "up" if ev.action_id == UP else "down"
    with ctx.session() as s:
        repo.record_feedback(
            s,
            platform=str(ev.platform),
            user_id=ev.actor.id,
            subject=subject,
            kind=kind,
            vote=vote,
            channel_id=ev.channel.id,
            message_id=ev.message_id,
            context={"locale": ctx.locale, "thread": ev.thread_id},
            at=ctx.now(),
        )
    ctx.answer(Message.plain(ctx.t("Thanks for the feedback.")), ephemeral=True)
    return None
