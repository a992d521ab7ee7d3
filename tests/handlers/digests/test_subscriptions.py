"""/digest subscribe|list|unsubscribe|now end to end through the local workspace (no Prometheus:
the digest still comes, with its sections marked unavailable), and a scheduled run's post."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from bot.app import CopilotApp, create_app
from bot.config import load_settings

Local = tuple[CopilotApp, TestClient]


@pytest.fixture
async def local(db_url: str) -> AsyncIterator[Local]:
    settings = load_settings(database_url=db_url, copilot_demo=True)
    app = create_app(settings)
    client = TestClient(TestServer(app.web))
    await client.start_server()
    yield app, client
    await client.close()


async def _ask(local: Local, text: str, user: str = "alice") -> list[Any]:
    app, client = local
    r = await client.post(
        "/api/local/send", json={"user": user, "channel": "C-general", "text": text}
    )
    assert r.status == 200, await r.text()
    await app.idle()
    r = await client.get("/api/local/messages", params={"channel": "C-general", "user": user})
    return [m for m in (await r.json())["messages"] if m["user_id"] == "copilot"]


async def test_subscribe_list_unsubscribe(local: Local) -> None:
    bot = await _ask(local, '/digest subscribe "0 9 * * 1-5" --tz Europe/Moscow --window 6h')
    assert not bot[-1]["ephemeral"]
    assert "Digest #1 scheduled here: “0 9 * * 1-5” (Europe/Moscow)" in bot[-1]["text"]
    # unquoted cron works too
    bot = await _ask(local, "/digest subscribe 30 8 * * * --sections alerts")
    assert "Digest #2 scheduled here" in bot[-1]["text"]
    bot = await _ask(local, "/digest list")
    listing = str(bot[-1]["message"])
    assert bot[-1]["ephemeral"] and "#1" in listing and "#2" in listing
    assert "window 6h" in listing and "sections: alerts" in listing
    bot = await _ask(local, "/digest unsubscribe 1")
    assert "Digest #1 unsubscribed" in bot[-1]["text"]
    bot = await _ask(local, "/digest unsubscribe 1")
    assert "No active digest subscription #1 in this channel" in bot[-1]["text"]
    bot = await _ask(local, "/digest list")
    assert "#1" not in str(bot[-1]["message"]) and "#2" in str(bot[-1]["message"])


@pytest.mark.parametrize(
    ("command", "error"),
    [
        ('/digest subscribe "0 25 * * *"', "The hour field “25” is not valid: use 0-23."),
        ('/digest subscribe "0 9 * *"', "A schedule has 5 fields"),
        ('/digest subscribe "0 9 * * *" --tz Mars/Base', "Unknown time zone “Mars/Base”"),
        ('/digest subscribe "0 9 * * *" --tz Europe/Moscw', "Did you mean Europe/Moscow?"),
        ('/digest subscribe "0 9 * * *" --window soon', "must look like 30m, 1h, 6h or 1d"),
        ('/digest subscribe "0 9 * * *" --sections nope', "Unknown section “nope”"),
        ("/digest unsubscribe abc", "is not a subscription id"),
        ("/digest subscribe", "Missing arguments"),
    ],
)
async def test_specific_errors(local: Local, command: str, error: str) -> None:
    bot = await _ask(local, command)
    assert bot[-1]["ephemeral"]
    assert error in bot[-1]["text"]


async def test_errors_in_russian(local: Local) -> None:
    await _ask(local, "/copilot lang ru", user="olga")
    bot = await _ask(local, '/digest subscribe "61 9 * * *"', user="olga")
    assert "Поле «минута» со значением «61» недопустимо" in bot[-1]["text"]


async def test_digest_now_without_prometheus_says_unavailable(local: Local) -> None:
    bot = await _ask(local, "/digest now --window 1h")
    assert not bot[-1]["ephemeral"]
    text = str(bot[-1]["message"])
    assert "unavailable" in text and "not configured" in text


async def test_a_scheduled_run_posts_and_keeps_the_snapshot(local: Local) -> None:
    app, _ = local
    await _ask(local, '/digest subscribe "*/5 * * * * *"')
    app.scheduler.token = app.scheduler.renew()
    spec = app.scheduler.load_specs()["digest:1"]
    slot = datetime.now(UTC).replace(microsecond=0)
    assert app.scheduler.fire(spec, slot) == "done"
    assert app.scheduler.fire(spec, slot) == "duplicate"
    bot = await _ask(local, "/digest list")
    r = await local[1].get("/api/local/messages", params={"channel": "C-general"})
    posted = [m for m in (await r.json())["messages"] if "Scheduled digest #1" in str(m)]
    assert len(posted) == 1
    assert "unavailable" in str(posted[0]["message"])
    from storage.db import unit_of_work
    from storage.digests import get_subscription

    with unit_of_work(app.engine) as s:
        sub = get_subscription(s, subscription_id=1)
        assert sub is not None and sub.last_digest and sub.last_slot
    assert bot  # the list still answers
