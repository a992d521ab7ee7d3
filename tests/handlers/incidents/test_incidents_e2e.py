"""Incidents end to end through the local workspace: the real app, router, outbox and DB."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from sqlmodel import select

from bot.app import CopilotApp, create_app
from bot.config import load_settings
from bot.events import Actor, ChannelRef, Event, EventKind, Platform
from handlers.incidents.jobs import post_status_updates
from storage.db import unit_of_work
from storage.models.core import AuditEntry, LocalChannel
from storage.models.incidents import Incident, TimelineEntry

T0 = datetime(2026, 11, 29, 10, 0, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
async def local(db_url: str) -> AsyncIterator[tuple[CopilotApp, TestClient, Clock]]:
    settings = load_settings(
        database_url=db_url,
        copilot_demo=True,
        copilot_incidents_channel="incidents",
        # The tests move a clock of their own; the live scheduler runs on the real one (days
        # past T0) and could post a status digest into a thread a test is counting. The job is
        # driven explicitly where it is under test.
        copilot_scheduler_enabled=False,
    )
    app = create_app(settings)
    clock = Clock()
    app.runtime.clock = clock
    client = TestClient(TestServer(app.web))
    await client.start_server()
    yield app, client, clock
    await client.close()


async def send(
    app: CopilotApp, client: TestClient, user: str, text: str, channel: str = "C-general"
) -> None:
    r = await client.post("/api/local/send", json={"user": user, "channel": channel, "text": text})
    assert r.status == 200, await r.text()
    await app.idle()


async def click(
    app: CopilotApp, client: TestClient, user: str, channel: str, action: str, value: str
) -> None:
    body = {"user": user, "channel": channel, "action_id": action, "value": value}
    r = await client.post("/api/local/action", json=body)
    assert r.status == 200, await r.text()
    await app.idle()


async def bot_messages(client: TestClient, channel: str, user: str = "alice") -> list[Any]:
    r = await client.get("/api/local/messages", params={"channel": channel, "user": user})
    return [m for m in (await r.json())["messages"] if m["user_id"] == "copilot"]


def incidents(app: CopilotApp) -> list[Incident]:
    with unit_of_work(app.engine) as s:
        return list(s.exec(select(Incident).order_by(Incident.id)).all())


def timeline(app: CopilotApp, incident_id: int) -> list[TimelineEntry]:
    with unit_of_work(app.engine) as s:
        q = select(TimelineEntry).where(TimelineEntry.incident_id == incident_id)
        return list(s.exec(q.order_by(TimelineEntry.id)).all())


def buttons(message: dict[str, Any]) -> list[str]:
    out = []
    for block in message["message"]["blocks"]:
        if block["type"] == "actions":
            out += [b["action_id"] for b in block["buttons"]]
    return out


async def declare(app: CopilotApp, client: TestClient, text: str) -> Incident:
    await send(app, client, "alice", "/incident declare " + text)
    return incidents(app)[-1]


async def test_declare_creates_channel_pinned_header_and_announcement(local: Any) -> None:
    app, client, _ = local
    inc = await declare(app, client, "Checkout 500s in EU --sev 1 --commander @bob")
    assert (inc.number, inc.severity, inc.status) == (1, 1, "investigating")
    assert inc.commander_id == "bob" and inc.declared_by == "alice"
    assert inc.channel_name == "inc-20261129-checkout-500s-in-eu"
    header = await bot_messages(client, inc.channel_id)
    assert len(header) == 1 and header[0]["pinned"]
    text = json.dumps(header[0]["message"], ensure_ascii=False)
    assert "INC-1: Checkout 500s in EU" in text and "SEV1" in text and "user:bob" in text
    assert buttons(header[0]) == ["incident:summarize", "incident:status", "incident:resolve"]
    announce = await bot_messages(client, "C-incidents")
    assert len(announce) == 1 and "INC-1 declared" in announce[0]["text"]
    reply = await bot_messages(client, "C-general")
    assert reply[0]["ephemeral"] and "INC-1 declared" in reply[0]["text"]
    assert [e.kind for e in timeline(app, inc.id)] == ["declare"]
    with unit_of_work(app.engine) as s:
        assert s.exec(select(AuditEntry.action)).all() == ["incident.declare"]


async def test_same_title_twice_gets_a_unique_channel_and_cyrillic_slug(local: Any) -> None:
    app, client, _clock = local
    await declare(app, client, "Сбой оплаты")
    await send(app, client, "bob", "/incident declare Сбой оплаты")
    rows = incidents(app)
    assert [r.channel_name for r in rows] == [
        "inc-20261129-sboy-oplaty",
        "inc-20261129-sboy-oplaty-2",
    ]


async def test_an_alert_storm_of_one_title_still_gets_a_channel_each(local: Any) -> None:
    app, client, clock = local
    await declare(app, client, "Something else")  # ids no longer match the storm's positions
    for n in range(11):
        clock.now += timedelta(seconds=1)
        user = ("alice", "bob", "carol")[n % 3]
        await send(app, client, user, f"/incident declare Checkout down{'!' * n}")
    rows = incidents(app)[1:]
    base = "inc-20261129-checkout-down"
    names = [r.channel_name for r in rows]
    assert len(rows) == 11 and len(set(names)) == 11
    assert names[:9] == [base, *(f"{base}-{n}" for n in range(2, 10))]
    assert names[9:] == [f"{base}-{rows[9].id}", f"{base}-{rows[10].id}"]


async def test_retried_declare_creates_one_incident(local: Any) -> None:
    app, client, _ = local
    channel = ChannelRef(platform=Platform.LOCAL, id="C-general", name="general")
    event = Event(
        kind=EventKind.COMMAND,
        platform=Platform.LOCAL,
        event_id="retry-1",
        channel=channel,
        actor=Actor(id="alice", name="alice"),
        command="incident",
        text="declare DB down --sev 2",
        received_at=time.time(),
    )
    assert await app.submit(event) is True
    assert await app.submit(event) is False  # the inbox dedupes the identical delivery
    await app.idle()
    # a second request (another delivery id) with the same title by the same person
    await send(app, client, "alice", "/incident declare DB down --sev 2")
    assert len(incidents(app)) == 1
    reply = (await bot_messages(client, "C-general"))[-1]
    assert "INC-1 is already open" in reply["text"]
    with unit_of_work(app.engine) as s:
        names = s.exec(select(LocalChannel.name).where(LocalChannel.name.like("inc-%"))).all()
    assert names == ["inc-20261129-db-down"]


async def test_status_resolve_timeline_and_mttr(local: Any) -> None:
    app, client, clock = local
    inc = await declare(app, client, "Search latency --sev 2 --service search")
    room = inc.channel_id
    clock.now = T0 + timedelta(minutes=7)
    await send(app, client, "alice", "/incident status Rolled back 1.4.2 --state identified", room)
    row = incidents(app)[0]
    assert row.status == "identified" and row.time_to_first_update_seconds == 420
    posts = await bot_messages(client, room)
    status = [m for m in posts if not m["pinned"]]
    assert "Rolled back 1.4.2" in status[-1]["text"] and "Identified" in status[-1]["text"]
    thread = [m for m in await bot_messages(client, "C-incidents") if m["thread"]]
    assert len(thread) == 1 and "Rolled back 1.4.2" in thread[0]["text"]
    header = next(m for m in posts if m["pinned"])
    assert header["pinned"] and "Rolled back 1.4.2" in json.dumps(header["message"])
    announcement = next(m for m in await bot_messages(client, "C-incidents") if not m["thread"])
    assert "Identified" in json.dumps(announcement["message"])

    clock.now = T0 + timedelta(minutes=42)
    await send(app, client, "bob", "/incident resolve Error rate back to normal", room)
    row = incidents(app)[0]
    assert row.status == "resolved" and row.mttr_seconds == 42 * 60
    header = next(m for m in await bot_messages(client, room) if m["pinned"])
    assert buttons(header) == ["incident:summarize"]
    announcement = next(m for m in await bot_messages(client, "C-incidents") if not m["thread"])
    assert "INC-1 resolved" in announcement["text"]
    assert [e.kind for e in timeline(app, row.id)] == ["declare", "status", "resolve"]

    await send(app, client, "alice", "/incident timeline", room)
    shown = (await bot_messages(client, room))[-1]
    assert shown["ephemeral"] and "Rolled back 1.4.2" in json.dumps(shown["message"])
    await send(app, client, "alice", "/incident resolve again", room)
    assert "already resolved" in (await bot_messages(client, room))[-1]["text"]

    await declare(app, client, "Second one --sev 4")
    await send(app, client, "alice", "/incident list --open")
    listed = json.dumps((await bot_messages(client, "C-general"))[-1]["message"])
    assert "INC-2" in listed and "INC-1" not in listed
    await send(app, client, "alice", "/incident list")
    listed = json.dumps((await bot_messages(client, "C-general"))[-1]["message"])
    assert "INC-2" in listed and "INC-1" in listed

    body = await (await client.get("/metrics")).text()
    assert 'copilot_incidents{severity="2",state="resolved"} 1.0' in body
    assert "copilot_incident_mttr_seconds_sum 2520.0" in body
    assert "copilot_incident_first_update_seconds_count 1.0" in body
    assert "copilot_incidents_summarized_ratio 0.0" in body


async def test_wrong_usage_is_specific(local: Any) -> None:
    app, client, _ = local
    await send(app, client, "alice", "/incident status all good")
    assert "not an incident channel" in (await bot_messages(client, "C-general"))[-1]["text"]
    await send(app, client, "alice", "/incident declare")
    assert "Missing arguments" in (await bot_messages(client, "C-general"))[-1]["text"]
    await send(app, client, "alice", "/incident declare Outage --sev 7")
    assert "--sev must be one of" in (await bot_messages(client, "C-general"))[-1]["text"]
    await send(app, client, "alice", "/incident timeline --id 99")
    assert "no incident INC-99" in (await bot_messages(client, "C-general"))[-1]["text"]
    assert incidents(app) == []


async def test_buttons_summarize_postmortem_and_resolve(local: Any) -> None:
    app, client, clock = local
    inc = await declare(app, client, "Payments queue stuck --sev 2")
    room = inc.channel_id
    await send(app, client, "alice", "Seeing 30% of payments failing since 09:55", room)
    await send(app, client, "bob", "Restarted the payments worker", room)
    await click(app, client, "bob", room, "incident:summarize", str(inc.id))
    row = incidents(app)[0]
    assert row.summary_count == 1 and row.summary_mode == "extractive"
    assert "summary" in [e.kind for e in timeline(app, inc.id)]
    await click(app, client, "bob", room, "incident:status", str(inc.id))
    prompt = (await bot_messages(client, room, "bob"))[-1]
    assert prompt["ephemeral"] and "/incident status" in prompt["text"]
    clock.now = T0 + timedelta(minutes=30)
    await click(app, client, "bob", room, "incident:resolve", str(inc.id))
    assert incidents(app)[0].status == "resolved"
    await send(app, client, "alice", "/incident postmortem", room)
    draft = (await bot_messages(client, room))[-1]
    assert draft["message"]["attachments"][0]["filename"] == "postmortem-inc-1.md"
    assert "Payments queue stuck" in json.dumps(draft["message"], ensure_ascii=False)
    body = await (await client.get("/metrics")).text()
    assert "copilot_incidents_summarized_ratio 1.0" in body


async def test_status_digests_per_severity_once_per_slot(local: Any) -> None:
    app, client, clock = local
    inc = await declare(app, client, "Login errors --sev 1 --commander @bob")
    await declare(app, client, "Minor glitch --sev 4")
    rt = app.runtime
    assert post_status_updates(rt, T0 + timedelta(minutes=10)) == 0
    assert post_status_updates(rt, T0 + timedelta(minutes=16)) == 1
    assert post_status_updates(rt, T0 + timedelta(minutes=17)) == 0  # same slot
    await app.idle()
    digest = (await bot_messages(client, inc.channel_id))[-1]
    assert "status digest" in digest["text"]
    assert "stale" in json.dumps(digest["message"]) and "user:bob" in json.dumps(digest["message"])
    thread = [m for m in await bot_messages(client, "C-incidents") if m["thread"]]
    assert len(thread) == 1
    clock.now = T0 + timedelta(minutes=20)
    await send(app, client, "bob", "/incident status Mitigated", inc.channel_id)
    assert post_status_updates(rt, T0 + timedelta(minutes=31)) == 1
    await app.idle()
    digest = (await bot_messages(client, inc.channel_id))[-1]
    assert "Mitigated" in json.dumps(digest["message"]) and "stale" not in digest["text"]
    await send(app, client, "bob", "/incident resolve", inc.channel_id)
    assert post_status_updates(rt, T0 + timedelta(minutes=60)) == 0


async def test_status_digest_job_runs_through_the_scheduler(local: Any) -> None:
    from bot.scheduler import JobContext
    from handlers.incidents.jobs import JOB_NAME

    app, client, _ = local
    inc = await declare(app, client, "Queue backlog --sev 2")
    spec = app.scheduler.load_specs()[JOB_NAME]
    with unit_of_work(app.engine) as s:
        spec.func(JobContext(app.runtime, JOB_NAME, T0 + timedelta(minutes=31), s))
    await app.idle()
    assert "status digest" in (await bot_messages(client, inc.channel_id))[-1]["text"]
