"""Events a dead process was handling: failed, and the person who asked is told, once."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime, timedelta

from sqlalchemy import text
from sqlalchemy.engine import Engine

from bot import inbox
from bot.events import Actor, ChannelRef, Event, EventKind, Platform
from storage.db import unit_of_work
from storage.models.core import UserPref
from tests.helpers.dispatch import make_dispatcher


def _event(name: str, kind: EventKind = EventKind.COMMAND, user: str = "U1") -> Event:
    return Event(
        kind=kind,
        platform=Platform.SLACK,
        event_id=name,
        channel=ChannelRef(platform=Platform.SLACK, id="C1"),
        actor=Actor(id=user),
        command="copilot" if kind == EventKind.COMMAND else None,
        text="runbook run restart-deployment app=web" if kind == EventKind.COMMAND else "",
        action_id="approve" if kind == EventKind.ACTION else None,
        response_url="https://hooks.example/response/1" if kind == EventKind.COMMAND else None,
    )


def _claimed_by(engine: Engine, event: Event, owner: str, *, ago: timedelta) -> None:
    """As another process's claim leaves the row (`inbox.claim` signs with this process)."""
    assert inbox.record(engine, event)
    with engine.begin() as conn:
        conn.execute(
            text(
                "UPDATE inbox_event SET status = 'processing', claimed_by = :o, claimed_at = :at"
                " WHERE event_id = :e"
            ),
            {"o": owner, "at": datetime.now(UTC) - ago, "e": event.event_id},
        )


def _state(engine: Engine) -> tuple[dict[str, tuple[str, str | None]], list[tuple[str, ...]]]:
    with engine.connect() as conn:
        events = conn.execute(text("SELECT event_id, status, error FROM inbox_event")).all()
        answers = conn.execute(
            text("SELECT op, channel_id, user_id, response_url, payload FROM outbox_message")
        ).all()
    return {e: (s, err) for e, s, err in events}, [tuple(a) for a in answers]


def test_a_dead_worker_s_events_fail_and_each_asker_is_told_once(engine: Engine) -> None:
    d = make_dispatcher(engine)
    dead, alive = "worker-host:111", "worker-host:222"
    _claimed_by(engine, _event("cmd-dead"), dead, ago=timedelta(seconds=3))
    _claimed_by(engine, _event("act-dead", EventKind.ACTION, "U2"), dead, ago=timedelta(seconds=2))
    _claimed_by(engine, _event("hook-dead", EventKind.WEBHOOK), dead, ago=timedelta(seconds=1))
    _claimed_by(engine, _event("cmd-alive"), alive, ago=timedelta(seconds=3))
    assert inbox.record(engine, _event("cmd-waiting"))

    reported = d.report_interrupted(owner=dead)

    assert sorted(e.event_id for e in reported) == ["act-dead", "cmd-dead", "hook-dead"]
    events, answers = _state(engine)
    assert events["cmd-dead"] == ("failed", inbox.INTERRUPTED)
    assert events["hook-dead"][0] == "failed" and events["act-dead"][0] == "failed"
    assert events["cmd-alive"] == ("processing", None)  # its process still runs it
    assert events["cmd-waiting"] == ("received", None)
    # one private answer per person who asked; a webhook has nobody to tell
    assert sorted((op, ch, user, url) for op, ch, user, url, _ in answers) == [
        ("ephemeral", "C1", "U1", "https://hooks.example/response/1"),
        ("ephemeral", "C1", "U2", None),
    ]
    texts = {user: json.loads(payload)["text"] for _, _, user, _, payload in answers}
    assert "`/copilot runbook run restart-deployment app=web`" in texts["U1"]
    assert "cannot tell whether it finished" in texts["U1"]
    assert "your last request" in texts["U2"]

    assert d.report_interrupted(owner=dead) == []  # reported once
    assert len(_state(engine)[1]) == 2


def test_at_start_only_events_claimed_long_ago_count_as_interrupted(engine: Engine) -> None:
    d = make_dispatcher(engine)
    _claimed_by(engine, _event("claimed-long-ago"), "gone:1", ago=timedelta(minutes=20))
    # received long ago (a backlog), claimed a minute ago by a live replica: not interrupted
    _claimed_by(engine, _event("claimed-just-now"), "live:2", ago=timedelta(minutes=1))
    with engine.begin() as conn:
        conn.execute(
            text("UPDATE inbox_event SET received_at = :at"),
            {"at": datetime.now(UTC) - timedelta(minutes=30)},
        )
    reported = d.report_interrupted(older_than=timedelta(minutes=10))
    assert [e.event_id for e in reported] == ["claimed-long-ago"]
    assert _state(engine)[0]["claimed-just-now"] == ("processing", None)


def test_the_notice_is_in_the_asker_s_language(engine: Engine) -> None:
    d = make_dispatcher(engine)
    with unit_of_work(engine) as s:
        s.add(UserPref(platform="slack", user_id="U1", locale="ru"))
    _claimed_by(engine, _event("cmd-ru"), "gone:1", ago=timedelta(seconds=1))
    d.report_interrupted(owner="gone:1")
    (answer,) = _state(engine)[1]
    assert "Проверьте результат" in json.loads(answer[-1])["text"]


def test_claims_sign_the_event_with_this_process(engine: Engine) -> None:
    d = make_dispatcher(engine)
    ev = _event("cmd-mine")
    assert inbox.record(engine, ev)
    d.handle(ev)  # claim, run, finish
    assert inbox.record(engine, _event("cmd-taken"))
    (taken,) = inbox.take(engine, limit=5)
    assert taken.event_id == "cmd-taken"
    with engine.connect() as conn:
        rows = dict(conn.execute(text("SELECT event_id, claimed_by FROM inbox_event")).all())
    assert rows == {"cmd-mine": inbox.owner(), "cmd-taken": inbox.owner()}
    assert inbox.owner().endswith(f":{os.getpid()}")
