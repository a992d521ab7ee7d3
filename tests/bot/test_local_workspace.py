"""The local workspace end to end over HTTP: the same core, router and outbox as the chats."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from bot.app import CopilotApp, create_app
from bot.config import load_settings


@pytest.fixture
async def local(db_url: str) -> AsyncIterator[tuple[CopilotApp, TestClient]]:
    app = create_app(load_settings(database_url=db_url, copilot_demo=True))
    client = TestClient(TestServer(app.web))
    await client.start_server()
    yield app, client
    await client.close()


async def _send(client: TestClient, user: str, text: str, channel: str = "C-general") -> None:
    r = await client.post("/api/local/send", json={"user": user, "channel": channel, "text": text})
    assert r.status == 200, await r.text()


async def _messages(client: TestClient, user: str, channel: str = "C-general") -> list[Any]:
    r = await client.get("/api/local/messages", params={"channel": channel, "user": user})
    return (await r.json())["messages"]


async def test_copilot_help_lists_every_command(local: tuple[CopilotApp, TestClient]) -> None:
    app, client = local
    await _send(client, "alice", "/copilot help")
    await app.idle()
    msgs = await _messages(client, "alice")
    bot = [m for m in msgs if m["user_id"] == "copilot"]
    assert len(bot) == 1 and bot[0]["ephemeral"]
    text = str(bot[0]["message"])
    assert "Console Copilot commands" in text
    for name in app.router.commands:
        assert f"/{name}" in text
    # ephemeral: another user does not see it
    assert not [m for m in await _messages(client, "bob") if m["user_id"] == "copilot"]


async def test_wrong_subcommand_gets_specific_usage(local: tuple[CopilotApp, TestClient]) -> None:
    app, client = local
    await _send(client, "alice", "/copilot hlep")
    await app.idle()
    bot = [m for m in await _messages(client, "alice") if m["user_id"] == "copilot"]
    assert "Did you mean “help”" in bot[0]["text"]


async def test_language_preference_switches_replies(local: tuple[CopilotApp, TestClient]) -> None:
    app, client = local
    await _send(client, "alice", "/copilot lang ru")
    await app.idle()
    await _send(client, "alice", "/copilot nope")
    await app.idle()
    bot = [m for m in await _messages(client, "alice") if m["user_id"] == "copilot"]
    assert "Неизвестная подкоманда" in bot[-1]["text"]


async def test_bad_local_requests_are_400(local: tuple[CopilotApp, TestClient]) -> None:
    _, client = local
    r = await client.post("/api/local/send", data=b"{not json", headers={"Content-Type": "x"})
    assert r.status == 400
    r = await client.post("/api/local/send", json={"user": "mallory", "channel": "C-general"})
    assert r.status == 400
    r = await client.get("/api/local/messages", params={"channel": "C-general", "after": "x"})
    assert r.status == 400


async def test_health_ready_metrics(local: tuple[CopilotApp, TestClient]) -> None:
    app, client = local
    assert (await client.get("/healthz")).status == 200
    ready = await client.get("/readyz")
    assert ready.status == 200 and (await ready.json())["database"] == "ok"
    await _send(client, "alice", "/copilot help")
    await app.idle()
    body = await (await client.get("/metrics")).text()
    assert "copilot_outbox_depth 0.0" in body
    assert 'copilot_events_total{kind="command",outcome="new",platform="local"} 1.0' in body
    await asyncio.sleep(0)


async def test_page_chrome_follows_the_users_language(local: tuple[CopilotApp, TestClient]) -> None:
    app, client = local
    r = await client.get("/api/local/strings", params={"user": "alice"})
    body = await r.json()
    assert body["locale"] == "en" and body["strings"]["send"] == "Send"
    assert body["strings"]["replies"] == {"one": "{n} reply", "other": "{n} replies"}
    await _send(client, "alice", "/copilot lang ru")
    await app.idle()
    body = await (await client.get("/api/local/strings", params={"user": "alice"})).json()
    assert body["locale"] == "ru"
    strings = body["strings"]
    assert strings["send"] == "Отправить"
    assert strings["reply_in_thread"] == "Ответить в ветке"
    assert strings["only_you"] == "видно только вам"
    assert strings["replies"] == {"one": "{n} ответ", "few": "{n} ответа", "many": "{n} ответов"}
    # another user keeps their own language; a user whose platform locale is ru gets Russian
    bob = await (await client.get("/api/local/strings", params={"user": "bob"})).json()
    assert bob["locale"] == "en" and bob["strings"]["send"] == "Send"
    olga = await (await client.get("/api/local/strings", params={"user": "olga"})).json()
    assert olga["locale"] == "ru" and olga["strings"]["channels"] == "Каналы"
