"""The real app wired to a FakeMattermost: slash commands registered like
`console-copilot mattermost-setup` does, the websocket, and button callbacks."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from typing import Any

from aiohttp.test_utils import TestClient, TestServer
from mattermostdriver import Driver

from bot.app import CopilotApp, create_app
from bot.config import load_settings
from tests.fakes.mattermost import FakeMattermost
from tests.helpers.server import free_port

COMMANDS = ("copilot", "incident", "runbook", "partner")


@dataclass
class MMWorld:
    fake: FakeMattermost
    team: str
    town: str
    alice: str
    bob: str
    tokens: dict[str, str] = field(default_factory=dict)


@contextmanager
def fake_mattermost() -> Iterator[MMWorld]:
    """A seeded FakeMattermost in a thread; fails on any contract violation at the end."""
    fake = FakeMattermost()
    fake.start_in_thread()
    try:
        alice = fake.seed_user("alice")["id"]
        bob = fake.seed_user("bob")["id"]
        team = fake.seed_team("ops", members=[alice, bob])["id"]
        town = fake.seed_channel(team, "town-square", members=[alice, bob])["id"]
        fake.seed_channel(team, "incidents", members=[alice])
        yield MMWorld(fake, team, town, alice, bob)
        fake.assert_no_violations()
    finally:
        fake.stop_thread()


def register_commands(world: MMWorld, public_url: str) -> list[str]:
    """POST /commands for each trigger (as mattermost-setup does); returns their tokens."""
    driver = Driver(world.fake.driver_options())
    driver.login()
    tokens = []
    for name in COMMANDS:
        cmd = driver.commands.create_command(
            options={
                "team_id": world.team,
                "trigger": name,
                "method": "P",
                "url": public_url + "/mattermost/command",
                "auto_complete": True,
            }
        )
        world.tokens[name] = cmd["token"]
        tokens.append(cmd["token"])
    return tokens


def mm_settings(world: MMWorld, db_url: str, port: int, **extra: Any) -> Any:
    public = f"http://127.0.0.1:{port}"
    tokens = register_commands(world, public)
    return load_settings(
        database_url=db_url,
        mattermost_url=f"http://127.0.0.1:{world.fake.port}",
        mattermost_token=world.fake.bot_token,
        mattermost_team="ops",
        mattermost_command_tokens=",".join(tokens),
        copilot_public_url=public,
        copilot_incidents_channel="incidents",
        copilot_scheduler_enabled=False,
        **extra,
    )


@dataclass
class MMBot:
    app: CopilotApp
    client: TestClient
    world: MMWorld


@asynccontextmanager
async def running_mm(
    world: MMWorld, db_url: str, *, port: int | None = None, **extra: Any
) -> AsyncIterator[MMBot]:
    """The real app served on a known port (Mattermost calls it back by URL)."""
    port = port or free_port()
    app = create_app(mm_settings(world, db_url, port, **extra))
    client = TestClient(TestServer(app.web, host="127.0.0.1", port=port))
    await client.start_server()
    try:
        yield MMBot(app, client, world)
    finally:
        await client.close()
