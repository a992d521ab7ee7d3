"""The fake Mattermost calling an integration: slash commands and button clicks."""

from __future__ import annotations

import asyncio
from typing import Any
from urllib.parse import parse_qs

from aiohttp import web
from aiohttp.test_utils import TestServer
from mattermostdriver import Driver

from tests.fakes.mattermost import FakeMattermost
from tests.fakes.mattermost_outgoing import click, run_command


async def test_command_and_click_round_trip(fake_mattermost: FakeMattermost) -> None:
    fake = fake_mattermost
    seen: dict[str, Any] = {}

    async def command(request: web.Request) -> web.Response:
        form = parse_qs((await request.read()).decode())
        seen["command"] = (request.headers["Authorization"], form)
        return web.json_response({"response_type": "in_channel", "text": "Incident declared"})

    async def action(request: web.Request) -> web.Response:
        seen["action"] = await request.json()
        return web.json_response({"update": {"message": "Approved"}, "ephemeral_text": "Done"})

    app = web.Application()
    app.router.add_post("/mattermost/command", command)
    app.router.add_post("/mattermost/actions", action)
    async with TestServer(app, host="127.0.0.1") as integration:
        team = fake.seed_team("ops")
        alice = fake.seed_user("alice")
        ch = fake.seed_channel(team["id"], "town-square", members=[alice["id"]])
        d = Driver(fake.driver_options())
        await asyncio.to_thread(d.login)
        cmd = await asyncio.to_thread(
            d.commands.create_command,
            {
                "team_id": team["id"],
                "trigger": "incident",
                "method": "P",
                "url": str(integration.make_url("/mattermost/command")),
            },
        )
        resp = await run_command(
            fake, "incident", "declare db", user_id=alice["id"], channel_id=ch["id"]
        )
        assert resp["text"] == "Incident declared"
        auth, form = seen["command"]
        assert auth == f"Token {cmd['token']}"
        assert form["text"] == ["declare db"] and form["user_name"] == ["alice"]
        assert fake.channel_posts(ch["id"])[-1]["message"] == "Incident declared"

        button = {
            "id": "approve",
            "name": "Approve",
            "integration": {
                "url": str(integration.make_url("/mattermost/actions")),
                "context": {"run": "42", "sig": "x"},
            },
        }
        post = await asyncio.to_thread(
            d.posts.create_post,
            {
                "channel_id": ch["id"],
                "message": "Run 42?",
                "props": {"attachments": [{"actions": [button]}]},
            },
        )
        answer = await click(fake, post["id"], "approve", user_id=alice["id"])
        assert answer["ephemeral_text"] == "Done"
        assert len(seen["action"]) == 11 and seen["action"]["context"]["run"] == "42"
        assert fake.posts[post["id"]]["message"] == "Approved"
        assert fake.ephemerals[-1] == {
            "user_id": alice["id"],
            "post": {"channel_id": ch["id"], "message": "Done"},
        }
