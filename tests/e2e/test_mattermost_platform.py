"""The real app serving Mattermost against FakeMattermost: commands, buttons, websocket.

Runs on SQLite and PostgreSQL; every REST call the bot makes is validated against the
Mattermost OpenAPI spec by the fake.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from bot.platforms.mattermost_render import sign_context
from tests.fakes import mattermost_requests as mr
from tests.fakes._server import wait_until
from tests.fakes.mattermost_outgoing import click, run_command
from tests.platforms.mattermost_app import MMWorld, fake_mattermost, running_mm
from tests.platforms.slack_app import inbox_count


@pytest.fixture
def world() -> Iterator[MMWorld]:
    with fake_mattermost() as w:
        yield w


def duplicates(app: Any) -> float:
    """Events this process saw again and dropped (the inbox dedupe)."""
    metric = app.metrics.events.labels(platform="mattermost", kind="mention", outcome="duplicate")
    return float(metric._value.get())


async def declare(world: MMWorld, title: str) -> None:
    await run_command(
        world.fake, "incident", "declare " + title, user_id=world.alice, channel_id=world.town
    )


def bot_posts(world: MMWorld, channel_id: str) -> list[dict[str, Any]]:
    return [p for p in world.fake.channel_posts(channel_id) if p["user_id"] == world.fake.bot["id"]]


async def test_help_command_answered(world: MMWorld, db_url: str) -> None:
    async with running_mm(world, db_url) as bot:
        await run_command(world.fake, "copilot", "help", user_id=world.alice, channel_id=world.town)
        await bot.app.idle()
        texts = json.dumps(world.fake.ephemerals)
        assert "/incident" in texts, texts[:500]


async def test_wrong_or_missing_command_token(world: MMWorld, db_url: str) -> None:
    async with running_mm(world, db_url) as bot:
        base = {"command": "/incident", "text": "declare nope", "user_id": world.alice}
        wrong = mr.slash_command("not-a-token", channel_id=world.town, **base)
        body, headers = mr.slash_command("", channel_id=world.town, **base)
        missing = (body, {k: v for k, v in headers.items() if k != "Authorization"})
        for b, h in (wrong, missing):
            resp = await bot.client.post("/mattermost/command", data=b, headers=h)
            assert resp.status == 401
        await bot.app.idle()
        assert inbox_count(bot.app) == 0 and bot_posts(world, world.town) == []


async def test_incident_declare_creates_channel(world: MMWorld, db_url: str) -> None:
    async with running_mm(world, db_url) as bot:
        await declare(world, "Payments down")
        await bot.app.idle()
        created = [c for c in world.fake.channels.values() if c["name"].startswith("inc-")]
        assert len(created) == 1, [c["name"] for c in world.fake.channels.values()]
        cid = created[0]["id"]
        assert world.alice in world.fake.members[cid]
        header = bot_posts(world, cid)
        assert header and "INC-1" in json.dumps(header[0])
        assert header[0].get("is_pinned")
        incidents = next(c["id"] for c in world.fake.channels.values() if c["name"] == "incidents")
        assert "INC-1" in json.dumps(bot_posts(world, incidents))


def _signed_context(bot: Any, action_id: str, value: str, channel_id: str) -> dict[str, Any]:
    secret = bot.app.adapters[next(iter(bot.app.adapters))].secret
    return {
        "action_id": action_id,
        "value": value,
        "sig": sign_context(secret, action_id, value, channel_id),
    }


async def test_button_contexts_are_verified(world: MMWorld, db_url: str) -> None:
    async with running_mm(world, db_url) as bot:
        await declare(world, "Cache cold")
        await bot.app.idle()
        cid = next(c["id"] for c in world.fake.channels.values() if c["name"].startswith("inc-"))
        header = bot_posts(world, cid)[0]
        actions = [a for att in header["props"]["attachments"] for a in att.get("actions") or []]
        good = dict(actions[0]["integration"]["context"])
        before = inbox_count(bot.app)
        forged = {**good, "value": good["value"] + "9"}
        nosig = {k: v for k, v in good.items() if k != "sig"}
        for ctx, channel in ((forged, cid), (nosig, cid), (good, world.town)):
            body, headers = mr.action(
                ctx, user_id=world.bob, channel_id=channel, post_id=header["id"]
            )
            resp = await bot.client.post("/mattermost/actions", data=body, headers=headers)
            assert resp.status == 401, ctx
        await bot.app.idle()
        assert inbox_count(bot.app) == before

        # the real click (the server posts the button's own context)
        ids = {a["integration"]["context"]["action_id"]: a["id"] for a in actions}
        status_button = {"id": ids["incident:status"]}
        await click(world.fake, header["id"], status_button["id"], user_id=world.bob)
        await bot.app.idle()
        assert inbox_count(bot.app) == before + 1


async def test_confirm_flow(world: MMWorld, db_url: str) -> None:
    async with running_mm(world, db_url) as bot:
        await declare(world, "Queue stuck")
        await bot.app.idle()
        cid = next(c["id"] for c in world.fake.channels.values() if c["name"].startswith("inc-"))
        header = bot_posts(world, cid)[0]
        actions = [a for att in header["props"]["attachments"] for a in att.get("actions") or []]
        confirming = [a for a in actions if a["integration"]["context"].get("confirm")]
        assert confirming, "the resolve button asks for confirmation"
        before = inbox_count(bot.app)
        await click(world.fake, header["id"], confirming[0]["id"], user_id=world.alice)
        await bot.app.idle()
        assert inbox_count(bot.app) == before  # only asked
        ask = world.fake.ephemerals[-1]["post"]
        confirm = ask["props"]["attachments"][0]["actions"][0]
        body, headers = mr.action(
            confirm["integration"]["context"],
            user_id=world.alice,
            channel_id=cid,
            post_id=header["id"],
        )
        resp = await bot.client.post("/mattermost/actions", data=body, headers=headers)
        assert resp.status == 200
        await bot.app.idle()
        assert inbox_count(bot.app) == before + 1


async def test_websocket_mention_replied_in_thread_once(world: MMWorld, db_url: str) -> None:
    async with running_mm(world, db_url) as bot:
        await wait_until(lambda: world.fake.bot["id"] in world.fake.connected_users(), within=10)
        post = world.fake.user_post(world.alice, world.town, "@copilot help")
        await wait_until(lambda: inbox_count(bot.app) == 1, within=10)
        await bot.app.idle()
        replies = [p for p in bot_posts(world, world.town) if p.get("root_id") == post["id"]]
        assert len(replies) == 1
        # the same post delivered again (a second replica or a redelivery) is handled once
        frame_data = {"post": json.dumps(post), "channel_type": "O", "team_id": world.team}
        world.fake.push_event("posted", frame_data)
        await wait_until(lambda: duplicates(bot.app) == 1, within=10)
        async with running_mm(world, db_url) as replica:
            await wait_until(lambda: len(world.fake.sockets) >= 2, within=10)
            world.fake.push_event("posted", frame_data)
            await wait_until(lambda: duplicates(replica.app) == 1, within=10)
            await replica.app.idle()
            await bot.app.idle()
        await bot.app.idle()
        replies = [p for p in bot_posts(world, world.town) if p.get("root_id") == post["id"]]
        assert len(replies) == 1 and inbox_count(bot.app) == 1
