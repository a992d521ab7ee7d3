"""A handler's answer is stored with the event's inbox verdict: one transaction, kept on retry."""

from __future__ import annotations

import json

from sqlalchemy import event as sa_event
from sqlalchemy import text
from sqlalchemy.engine import Engine

from bot import inbox
from bot.context import Context
from bot.dispatch import Outcome
from bot.events import Actor, ChannelRef, Event, EventKind, Platform
from bot.messages import Message
from bot.platforms.base import DeliveryError
from tests.helpers.dispatch import make_dispatcher


def _command(n: int, text: str) -> Event:
    return Event(
        kind=EventKind.COMMAND,
        platform=Platform.SLACK,
        event_id=f"outcome-{n}",
        channel=ChannelRef(platform=Platform.SLACK, id="C1"),
        actor=Actor(id="U1", locale="en"),
        command="copilot",
        text=text,
        response_url="https://hooks.example/response/1",
    )


def _rows(engine: Engine) -> tuple[list[tuple[str, str, str]], dict[str, str]]:
    with engine.connect() as conn:
        outbox = conn.execute(
            text("SELECT op, user_id, payload FROM outbox_message ORDER BY id")
        ).all()
        inbox_rows = conn.execute(text("SELECT event_id, status FROM inbox_event")).all()
    return [tuple(r) for r in outbox], {e: s for e, s in inbox_rows}


def _xid(engine: Engine) -> int:
    with engine.connect() as conn:  # assigns (consumes) a transaction id itself
        return int(conn.execute(text("SELECT pg_current_xact_id()::text::bigint")).scalar_one())


def test_help_costs_two_commits_claim_and_answer_with_verdict(engine: Engine) -> None:
    """Counted by the server on PostgreSQL: each write transaction takes a transaction id
    (the statements there are autocommitted, so SQLAlchemy sees no COMMIT at all)."""
    d = make_dispatcher(engine)
    ev = _command(1, "help")
    assert inbox.record(engine, ev)
    commits: list[int] = []
    sa_event.listen(engine, "commit", lambda _conn: commits.append(1))
    before = _xid(engine) if engine.dialect.name == "postgresql" else 0
    d.handle(ev)
    if engine.dialect.name == "postgresql":
        assert commits == []  # nothing went through SQLAlchemy's transactions
        commits = [1] * (_xid(engine) - before - 1)
    outbox, verdicts = _rows(engine)
    assert len(commits) == 2  # the claim; the answer and `done` together
    assert verdicts == {"outcome-1": "done"}
    [(op, user, payload)] = outbox
    assert op == "ephemeral" and user == "U1"  # `answer(..., ephemeral=True)` kept its target
    assert "Console Copilot commands" in json.loads(payload)["text"]


def test_a_usage_error_is_answered_privately_with_the_verdict(engine: Engine) -> None:
    d = make_dispatcher(engine)
    ev = _command(2, "no-such-subcommand")
    inbox.record(engine, ev)
    d.handle(ev)
    outbox, verdicts = _rows(engine)
    assert verdicts == {"outcome-2": "done"}
    [(op, _user, payload)] = outbox
    assert op == "ephemeral" and "Unknown subcommand" in json.loads(payload)["text"]


def test_the_finish_stage_stores_the_kept_outcome_once(engine: Engine) -> None:
    """After the database failed at the end, the retry stores what the handler produced
    without running the handler again (the answer is not lost, and not doubled)."""
    d = make_dispatcher(engine)
    ev = _command(3, "help")
    inbox.record(engine, ev)
    with engine.begin() as conn:
        assert inbox.claim(conn, ev)
    kept = Outcome(error="RuntimeError: boom", answers=((Message.plain("kept answer"), True),))
    d.handle(ev, stage="finish", outcome=kept)
    outbox, verdicts = _rows(engine)
    assert verdicts == {"outcome-3": "failed"}
    assert [json.loads(p)["text"] for _op, _u, p in outbox] == ["kept answer"]


def test_every_answer_of_a_handler_is_stored_in_order_with_the_verdict(engine: Engine) -> None:
    """A handler that answers twice and returns a third message: three outbox rows in order,
    to the targets asked for (one statement on PostgreSQL, one transaction on SQLite)."""
    d = make_dispatcher(engine)

    def chatty(ctx: Context, _args: object) -> Message:
        ctx.answer(Message.plain("first, only to you"), ephemeral=True)
        ctx.answer(Message.plain("second, to the channel"))
        return Message.plain("third, returned")

    d.runtime.router.command("chatty", help="answers three times").sub("go", chatty, help="go")
    ev = _command(4, "go").model_copy(update={"command": "chatty"})
    inbox.record(engine, ev)
    d.handle(ev)
    outbox, verdicts = _rows(engine)
    assert verdicts == {"outcome-4": "done"}
    assert [(op, json.loads(p)["text"]) for op, _u, p in outbox] == [
        ("ephemeral", "first, only to you"),
        ("post", "second, to the channel"),
        ("post", "third, returned"),
    ]


class _Responder:
    """The platform side of a response_url (what Slack would receive), failing on demand."""

    def __init__(self, fail: bool = False) -> None:
        self.sent: list[tuple[str, str]] = []
        self.fail = fail

    def respond(self, url: str, message: Message, *, ephemeral: bool = True) -> None:
        if self.fail:
            raise DeliveryError("response_url 503")
        self.sent.append((url, message.text))


def _status(engine: Engine) -> list[tuple[str, int]]:
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT status, attempts FROM outbox_message ORDER BY id"))
        return [(s, a) for s, a in rows]


def test_a_private_answer_leaves_from_the_handler_thread(engine: Engine) -> None:
    d = make_dispatcher(engine)
    platform = _Responder()
    d.runtime.apis[Platform.SLACK] = platform  # type: ignore[assignment]
    ev = _command(5, "help")
    inbox.record(engine, ev)
    d.handle(ev)
    assert [url for url, _ in platform.sent] == ["https://hooks.example/response/1"]
    assert _status(engine) == [("sent", 1)]


def test_a_failed_first_post_is_left_to_the_outbox(engine: Engine) -> None:
    d = make_dispatcher(engine)
    d.runtime.apis[Platform.SLACK] = _Responder(fail=True)  # type: ignore[assignment]
    ev = _command(6, "help")
    inbox.record(engine, ev)
    d.handle(ev)
    assert _status(engine) == [("pending", 1)]  # retried by the worker, after a backoff


def test_an_answer_never_overtakes_what_the_handler_posted_before(engine: Engine) -> None:
    """A handler that posted with `ctx.reply` first: its later private answer waits in the
    outbox behind that post instead of leaving at once."""
    d = make_dispatcher(engine)
    platform = _Responder()
    d.runtime.apis[Platform.SLACK] = platform  # type: ignore[assignment]

    def progress_then_answer(ctx: Context, _args: object) -> None:
        ctx.reply(Message.plain("working on it"))
        ctx.answer(Message.plain("done"), ephemeral=True)

    d.runtime.router.command("slow", help="slow").sub("go", progress_then_answer, help="go")
    ev = _command(7, "go").model_copy(update={"command": "slow"})
    inbox.record(engine, ev)
    d.handle(ev)
    assert platform.sent == []
    assert _status(engine) == [("pending", 0), ("pending", 0)]
