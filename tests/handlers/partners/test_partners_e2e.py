"""Partner intake end to end through the local workspace: threads, review, publish, Trust Center."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from sqlmodel import select

from bot.app import CopilotApp, create_app
from bot.config import load_settings
from storage.db import unit_of_work
from storage.models.core import AuditEntry
from storage.models.partners import Intake, IntakeAnswer

T0 = datetime(2026, 11, 29, 10, 0, tzinfo=UTC)
CH = "C-partner-acme"

GOOD = [
    ("dave", "Acme Data LLC"),
    ("dave", "Dave Smith, dave@acme.example"),
    ("dave", "Analytics"),
    ("dave", "fintech"),
    ("dave", "saas"),
    ("dave", "ru-central1, ru-msk"),
    ("alice", "ru-central1"),
    ("dave", "да"),
    ("dave", "RU, KZ"),
    ("dave", "ISO27001, 152-FZ attestation"),
    ("dave", "https://acme.example/certs"),
    ("dave", "security@acme.example"),
    ("dave", "99.95"),
    ("dave", "24x7"),
    ("dave", "subscription"),
    ("dave", "https://acme.example/dpa"),
    ("dave", "https://acme.example/privacy"),
    ("dave", "https://acme.example/data"),
    ("dave", "https://acme.example/docs"),
]


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


def make_app(db_url: str) -> CopilotApp:
    settings = load_settings(
        database_url=db_url, copilot_demo=True, copilot_partner_review_channel="partner-review"
    )
    return create_app(settings)


@pytest.fixture
async def local(db_url: str) -> AsyncIterator[tuple[CopilotApp, TestClient, Clock]]:
    app = make_app(db_url)
    clock = Clock()
    app.runtime.clock = clock
    client = TestClient(TestServer(app.web))
    await client.start_server()
    yield app, client, clock
    await client.close()


async def send(
    app: CopilotApp,
    client: TestClient,
    user: str,
    text: str,
    channel: str = CH,
    thread: str | None = None,
) -> None:
    body = {"user": user, "channel": channel, "text": text, "thread": thread}
    r = await client.post("/api/local/send", json=body)
    assert r.status == 200, await r.text()
    await app.idle()


async def click(
    app: CopilotApp, client: TestClient, user: str, channel: str, action: str, value: str
) -> None:
    body = {"user": user, "channel": channel, "action_id": action, "value": value}
    r = await client.post("/api/local/action", json=body)
    assert r.status == 200, await r.text()
    await app.idle()


async def bot_messages(client: TestClient, channel: str = CH, user: str = "alice") -> list[Any]:
    r = await client.get("/api/local/messages", params={"channel": channel, "user": user})
    return [m for m in (await r.json())["messages"] if m["user_id"] == "copilot"]


def intakes(app: CopilotApp) -> list[Intake]:
    with unit_of_work(app.engine) as s:
        return list(s.exec(select(Intake).order_by(Intake.id)).all())


async def start(
    app: CopilotApp, client: TestClient, name: str, channel: str = CH
) -> tuple[Intake, str]:
    await send(app, client, "alice", f"/partner intake {name}", channel)
    row = intakes(app)[-1]
    root = next(
        m for m in await bot_messages(client, channel) if not m["thread"] and name in m["text"]
    )
    return row, root["id"]


async def last_in_thread(client: TestClient, thread: str, channel: str = CH) -> str:
    msgs = [m for m in await bot_messages(client, channel) if m["thread"] == thread]
    return json.dumps(msgs[-1]["message"], ensure_ascii=False)


async def test_whole_intake_review_publish_and_trust_center(local: Any) -> None:
    app, client, clock = local
    row, thread = await start(app, client, "Acme Analytics")
    assert row.state == "collecting" and row.current == "company"
    assert "Question 1 of" in await last_in_thread(client, thread)
    for i, (user, text) in enumerate(GOOD):
        clock.now = T0 + timedelta(minutes=i + 1)
        await send(app, client, user, text, thread=thread)
        if i == 2:  # a bad enum answer is re-asked with the options
            assert intakes(app)[0].current == "vertical"
            await send(app, client, "dave", "banking", thread=thread)
            assert "Please answer one of: fintech" in await last_in_thread(client, thread)
    row = intakes(app)[0]
    assert row.state == "review", row.current
    assert row.score is not None and row.score >= 90 and row.coverage == 1.0
    with unit_of_work(app.engine) as s:
        ans = s.exec(
            select(IntakeAnswer).where(IntakeAnswer.question == "processing_regions")
        ).one()
        people = set(s.exec(select(IntakeAnswer.user_id)).all())
    assert ans.user_id == "alice" and people == {"alice", "dave"}
    assert "went to review" in await last_in_thread(client, thread)
    review = await bot_messages(client, "C-partner-review")
    assert len(review) == 1 and "ready for review" in review[0]["text"]
    # dave (external) and alice (the requester) cannot approve; bob (partner-reviewers) can
    await click(app, client, "dave", "partner-review", "partner:approve", str(row.id))
    await click(app, client, "alice", "partner-review", "partner:approve", str(row.id))
    assert intakes(app)[0].state == "review"
    await click(app, client, "bob", "partner-review", "partner:approve", str(row.id))
    row = intakes(app)[0]
    assert row.state == "approved" and row.reviewer_id == "bob"
    await click(app, client, "bob", "partner-review", "partner:reject", str(row.id))
    assert intakes(app)[0].state == "approved"  # compare-and-set: decided once
    # not yet published: no Trust Center page
    assert (await client.get(f"/trust/{row.slug}")).status == 404
    await send(app, client, "alice", f"/partner publish {row.id}")
    row = intakes(app)[0]
    assert row.state == "published" and row.published_at is not None
    page = await (await client.get(f"/trust/{row.slug}")).text()
    assert "Acme Analytics" in page and "LOC-152FZ-STORAGE" in page and "ru-central1" in page
    assert "ISO27001" in page
    index = await (await client.get("/trust/")).text()
    assert f'href="{row.slug}"' in index
    md = await (await client.get(f"/trust/{row.slug}.md")).text()
    assert md.startswith("# Acme Analytics")
    with unit_of_work(app.engine) as s:
        actions = s.exec(select(AuditEntry.action).order_by(AuditEntry.id)).all()
    assert actions == ["partner.intake", "partner.submit", "partner.approved", "partner.publish"]
    body = await (await client.get("/metrics")).text()
    assert 'copilot_partner_offers{state="published"} 1.0' in body
    assert "copilot_partner_intake_cycle_seconds_count 1.0" in body
    assert "copilot_partner_trust_center_complete_ratio 1.0" in body
    await send(app, client, "alice", f"/partner status {row.id}")
    status = json.dumps((await bot_messages(client))[-1]["message"], ensure_ascii=False)
    assert "Quality score" in status and "Completeness" in status


async def test_back_skip_status_cancel_and_localization_followup(local: Any) -> None:
    app, client, _ = local
    row, thread = await start(app, client, "Beta Store")
    await send(app, client, "dave", "Beta LLC", thread=thread)
    await send(app, client, "dave", "back", thread=thread)
    assert intakes(app)[0].current == "company"
    await send(app, client, "dave", "skip", thread=thread)
    assert "required and cannot be skipped" in await last_in_thread(client, thread)
    answers = [
        "Beta LLC",
        "beta@beta.example",
        "storage",
        "retail",
        "managed",
        "eu-west-1",
        "eu-west-1",
        "yes",
        "RU",
        "skip",
        "security@beta",
    ]
    for text in answers:
        await send(app, client, "dave", text, thread=thread)
    assert "not an email address" in await last_in_thread(client, thread)
    for text in [
        "security@beta.example",
        "99.5",
        "email",
        "pay-as-you-go",
        "skip",
        "skip",
        "skip",
        "skip",
    ]:
        await send(app, client, "dave", text, thread=thread)
    row = intakes(app)[0]
    # the missing checklist items are asked for in the thread: first the DPA
    assert row.state == "collecting" and row.current == "dpa_url", row.current
    assert "ART-DPA" in await last_in_thread(client, thread)
    for text in ["https://beta.example/dpa", "skip", "skip"]:
        await send(app, client, "dave", text, thread=thread)
    row = intakes(app)[0]
    assert row.current == "storage_regions"
    assert "outside RU" in await last_in_thread(client, thread)
    await send(app, client, "dave", "ru-central1", thread=thread)
    await send(app, client, "dave", "eu-west-1", thread=thread)
    row = intakes(app)[0]
    assert row.state == "checklist" and row.current is None
    await send(app, client, "dave", "status", thread=thread)
    assert "waiting for missing items" in await last_in_thread(client, thread)
    await send(app, client, "alice", f"/partner checklist {row.id}")
    shown = json.dumps((await bot_messages(client))[-2]["message"], ensure_ascii=False)
    assert "LOC-152FZ-PROCESSING" in shown and "missing" in shown
    await send(app, client, "dave", "cancel", thread=thread)
    assert intakes(app)[0].state == "collecting"  # dave is external: cannot cancel
    await send(app, client, "alice", "cancel", thread=thread)
    assert intakes(app)[0].state == "cancelled"


async def test_intakes_in_two_threads_never_mix_and_survive_restart(db_url: str) -> None:
    app = make_app(db_url)
    client = TestClient(TestServer(app.web))
    await client.start_server()
    try:
        _a, ta = await start(app, client, "Alpha")
        _b, tb = await start(app, client, "Gamma", channel="C-general")
        await send(app, client, "dave", "Alpha Inc", thread=ta)
        await send(app, client, "bob", "Gamma Inc", "C-general", thread=tb)
        await send(app, client, "bob", "gamma@g.example", "C-general", thread=tb)
    finally:
        await client.close()
    app2 = make_app(db_url)  # a new process on the same database
    client2 = TestClient(TestServer(app2.web))
    await client2.start_server()
    try:
        await send(app2, client2, "dave", "alpha@a.example", thread=ta)
        rows = intakes(app2)
        assert rows[0].current == "category" and rows[1].current == "category"
        with unit_of_work(app2.engine) as s:
            got = {r.intake_id: r.question for r in s.exec(select(IntakeAnswer)).all()}
        assert len(got) == 2
        assert json.loads(rows[0].answers_json)["company"] == "Alpha Inc"
        assert json.loads(rows[1].answers_json)["company"] == "Gamma Inc"
    finally:
        await client2.close()
