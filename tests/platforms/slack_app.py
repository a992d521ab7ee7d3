"""The real app wired to a FakeSlack over HTTP: a harness for the Slack end-to-end tests."""

from __future__ import annotations

import itertools
import json
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestClient, TestServer
from sqlmodel import func, select

from bot.app import CopilotApp, create_app
from bot.config import load_settings
from storage.db import unit_of_work
from storage.models.core import InboxEvent
from tests.fakes import slack_requests
from tests.fakes.slack_api import TEAM_ID, FakeSlack

ALICE, BOB, CAROL = "U0ALICE01", "U0BOB0001", "U0CAROL01"
GENERAL = "C0GENERAL1"
SRE_GROUP = "S0SRE00001"  # policies/approvals.yaml: group `sre`
_trigger = itertools.count(1)


def copilot_help(response_url: str, trigger_id: str, **fields: str) -> tuple[bytes, dict[str, str]]:
    """Alice's signed `/copilot help` in #general (load, worker and fault tests send many);
    `fields` override more of the recorded form (`text="digest now"`: another command)."""
    form = {
        "command": "/copilot",
        "text": "help",
        "user_id": ALICE,
        "user_name": "alice",
        "channel_id": GENERAL,
        "team_id": TEAM_ID,
        "response_url": response_url,
        "trigger_id": trigger_id,
    }
    return slack_requests.slash_command(**(form | fields))


def seed(slack: FakeSlack) -> None:
    """Three people, #general, #incidents, and the `sre` user group (bob and carol)."""
    slack.seed_user(ALICE, "alice")
    slack.seed_user(BOB, "bob")
    slack.seed_user(CAROL, "carol")
    slack.seed_channel("general", GENERAL, members=[ALICE, BOB, CAROL])
    slack.seed_channel("incidents", "C0INCIDENT", members=[ALICE])
    slack.seed_usergroup("sre", [BOB, CAROL], SRE_GROUP)


def slack_settings(slack: FakeSlack, db_url: str, **extra: Any) -> Any:
    return load_settings(
        database_url=db_url,
        slack_bot_token=slack.bot_token,
        slack_signing_secret=slack_requests.SECRET,
        slack_api_url=slack.base_url,
        copilot_incidents_channel="incidents",
        copilot_scheduler_enabled=False,
        **extra,
    )


@dataclass
class SlackBot:
    app: CopilotApp
    client: TestClient
    slack: FakeSlack

    async def post(self, body: bytes, headers: dict[str, str]) -> Any:
        return await self.client.post("/slack/events", data=body, headers=headers)

    async def command(self, command: str, text: str, user: str = ALICE, **fields: str) -> str:
        """A signed slash command from `user` in #general; returns its response_url."""
        url = self.slack.response_url()
        body, headers = slack_requests.slash_command(
            command=command,
            text=text,
            user_id=user,
            user_name=self.slack.users[user]["name"],
            channel_id=fields.pop("channel_id", GENERAL),
            channel_name="general",
            team_id=TEAM_ID,
            team_domain="fake",
            enterprise_id="",
            enterprise_name="",
            response_url=url,
            trigger_id=f"{next(_trigger)}.{id(self)}.trigger",
            **fields,
        )
        resp = await self.post(body, headers)
        assert resp.status == 200, await resp.text()
        await self.app.idle()
        return url

    async def click(self, message: dict[str, Any], channel: str, action_id: str, user: str) -> None:
        """Click a button of a message the bot posted (payload built from the real one)."""
        button = find_button(message, action_id)
        payload = slack_requests.block_actions_payload(
            button["action_id"],
            button.get("value", ""),
            user=user,
            channel=channel,
            message_ts=message["ts"],
            response_url=self.slack.response_url(),
            trigger_id=f"{next(_trigger)}.{id(self)}.click",
        )
        payload["user"].update(
            {"username": self.slack.users[user]["name"], "name": self.slack.users[user]["name"]}
        )
        payload["user"]["team_id"] = TEAM_ID
        payload["team"]["id"] = TEAM_ID
        payload["message"] = {k: v for k, v in message.items() if not k.startswith("_")}
        body, headers = slack_requests.interactive(payload)
        resp = await self.post(body, headers)
        assert resp.status == 200, await resp.text()
        await self.app.idle()


def find_button(message: dict[str, Any], action_id: str) -> dict[str, Any]:
    """The button whose action_id starts with `action_id`."""
    for block in message.get("blocks") or []:
        for el in block.get("elements") or []:
            if el.get("type") == "button" and el["action_id"].startswith(action_id):
                return dict(el)
    raise AssertionError(f"no {action_id} button in {json.dumps(message)[:2000]}")


def inbox_count(app: CopilotApp) -> int:
    with unit_of_work(app.engine) as s:
        return int(s.exec(select(func.count()).select_from(InboxEvent)).one())


@asynccontextmanager
async def running(settings: Any, slack: FakeSlack) -> AsyncIterator[SlackBot]:
    """The real app on an aiohttp test server; stopped (and the server closed) on exit."""
    app = create_app(settings)
    client = TestClient(TestServer(app.web))
    await client.start_server()
    try:
        yield SlackBot(app, client, slack)
    finally:
        await client.close()


def kubeconfig_for(tmp: Path) -> Any:
    from runbooks.demo_cluster import start_demo_cluster

    return start_demo_cluster(tmp)


@contextmanager
def fake_slack() -> Iterator[FakeSlack]:
    """A seeded FakeSlack in a thread; fails on any contract violation at the end."""
    fake = FakeSlack()
    fake.start_in_thread()
    try:
        seed(fake)
        yield fake
        fake.assert_no_violations()
    finally:
        fake.stop_thread()
