"""/digest now through the local workspace (real router, outbox, database) and real Prometheus."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from bot.app import CopilotApp, create_app
from bot.clients.alertmanager import AlertmanagerClient
from bot.clients.prometheus import PrometheusClient
from bot.config import load_settings
from tests.harness.promstack import PromStack

pytestmark = pytest.mark.prometheus


@pytest.fixture
async def local(
    db_url: str, known_stack: PromStack
) -> AsyncIterator[tuple[CopilotApp, TestClient]]:
    settings = load_settings(
        database_url=db_url,
        copilot_demo=True,
        prometheus_url=known_stack.prometheus_url,
        alertmanager_url=known_stack.alertmanager_url,
    )
    app = create_app(settings)
    assert isinstance(app.services.prometheus, PrometheusClient)
    assert isinstance(app.services.alertmanager, AlertmanagerClient)
    client = TestClient(TestServer(app.web))
    await client.start_server()
    yield app, client
    await client.close()


async def _ask(app: CopilotApp, client: TestClient, text: str) -> list[Any]:
    r = await client.post(
        "/api/local/send", json={"user": "alice", "channel": "C-general", "text": text}
    )
    assert r.status == 200, await r.text()
    await app.idle()
    r = await client.get("/api/local/messages", params={"channel": "C-general", "user": "alice"})
    return [m for m in (await r.json())["messages"] if m["user_id"] == "copilot"]


async def test_digest_now_posts_the_digest(local: tuple[CopilotApp, TestClient]) -> None:
    app, client = local
    bot = await _ask(app, client, "/digest now --service cart --window 1h")
    assert len(bot) == 1 and not bot[0]["ephemeral"]
    text = str(bot[0]["message"])
    assert "Status digest for cart" in text
    assert "CartSlow" in text
    assert "Top error rates" in text


async def test_digest_now_rejects_a_bad_window(local: tuple[CopilotApp, TestClient]) -> None:
    app, client = local
    bot = await _ask(app, client, "/digest now --window soon")
    assert "must look like 30m, 1h, 6h or 1d" in bot[0]["text"]


async def test_digest_now_without_telemetry_still_answers(db_url: str) -> None:
    app = create_app(load_settings(database_url=db_url, copilot_demo=True))
    assert app.services.prometheus is None
    client = TestClient(TestServer(app.web))
    await client.start_server()
    try:
        bot = await _ask(app, client, "/digest now --sections errors,alerts")
    finally:
        await client.close()
    text = str(bot[0]["message"])
    assert "Status digest: amber" in text
    assert "unavailable: prometheus: not configured" in text
    assert "unavailable: alertmanager: not configured" in text
