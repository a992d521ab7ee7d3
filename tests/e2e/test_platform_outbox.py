"""The outbox end to end: chat API down (5xx), rate limited (429 + Retry-After), a restart in
between — every reply reaches FakeSlack / FakeMattermost exactly once."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from slack_sdk import WebClient
from sqlmodel import select

from bot.app import CopilotApp
from bot.messages import Message
from bot.platforms.base import DeliveryError
from bot.platforms.slack import SlackApi
from storage.db import unit_of_work
from storage.models.core import OutboxMessage
from tests.fakes import slack_requests
from tests.fakes._server import wait_until
from tests.fakes.slack_api import BOT_USER_ID, TEAM_ID, FakeSlack
from tests.platforms.mattermost_app import MMWorld, fake_mattermost, running_mm
from tests.platforms.slack_app import ALICE, GENERAL, fake_slack, running, slack_settings


@pytest.fixture
def slack() -> Iterator[FakeSlack]:
    with fake_slack() as fake:
        yield fake


@pytest.fixture
def world() -> Iterator[MMWorld]:
    with fake_mattermost() as w:
        yield w


def outbox_rows(app: CopilotApp) -> list[OutboxMessage]:
    with unit_of_work(app.engine) as s:
        return list(s.exec(select(OutboxMessage)).all())


async def mention(bot: Any, slack: FakeSlack, n: int) -> str:
    root = slack.user_message(GENERAL, ALICE, f"<@{BOT_USER_ID}> help {n}")
    payload = slack_requests.app_mention_event(
        f"<@{BOT_USER_ID}> help",
        user=ALICE,
        channel=GENERAL,
        ts=root["ts"],
        event_id=f"Ev0OUTBOX{n}",
        team=TEAM_ID,
    )
    resp = await bot.post(*slack_requests.event(payload))
    assert resp.status == 200
    return str(root["ts"])


async def test_slack_down_rate_limited_and_restarted(slack: FakeSlack, db_url: str) -> None:
    settings = slack_settings(slack, db_url)
    slack.fail("chat.postMessage", status=503, times=1000)  # down for now
    async with running(settings, slack) as first:
        roots = [await mention(first, slack, n) for n in range(3)]
        await wait_until(
            lambda: (
                len(outbox_rows(first.app)) == 3
                and all(r.attempts >= 1 and r.status == "pending" for r in outbox_rows(first.app))
            ),
            within=20,
        )
    # the process is gone with 3 undelivered replies; Slack comes back rate limited
    statuses = [(r.status, r.attempts, r.last_error) for r in outbox_rows(first.app)]
    assert all(s[0] == "pending" for s in statuses), statuses
    slack.clear_faults()
    slack.fail("chat.postMessage", status=503, times=1)
    slack.rate_limit("chat.postMessage", retry_after=1, times=1)
    async with running(settings, slack) as second:
        await wait_until(
            lambda: all(r.status == "sent" for r in outbox_rows(second.app)), within=30
        )
        await second.app.idle()
        for ts in roots:
            replies = slack.messages(GENERAL, thread_ts=ts)[1:]
            assert len(replies) == 1, replies
            assert replies[0]["user"] == BOT_USER_ID
        assert len(outbox_rows(second.app)) == 3


async def test_mattermost_5xx_then_up_posts_once(world: MMWorld, db_url: str) -> None:
    async with running_mm(world, db_url) as bot:
        await wait_until(lambda: world.fake.bot["id"] in world.fake.connected_users(), within=10)
        world.fake.fail("POST /posts", status=502, times=2)
        post = world.fake.user_post(world.alice, world.town, "@copilot help")
        await wait_until(
            lambda: (
                bool(outbox_rows(bot.app)) and all(r.status == "sent" for r in outbox_rows(bot.app))
            ),
            within=30,
        )
        replies = [
            p
            for p in world.fake.channel_posts(world.town)
            if p.get("root_id") == post["id"] and p["user_id"] == world.fake.bot["id"]
        ]
        assert len(replies) == 1, json.dumps(replies)[:500]
        creates = world.fake.calls("POST /posts")
        assert len(creates) >= 3  # two failures, then the one that landed
        keys = {c.params.get("pending_post_id") for c in creates}
        assert len(keys) == 1  # every retry carried the same pending_post_id


async def test_replies_go_out_while_the_acknowledging_loop_is_busy(
    slack: FakeSlack, db_url: str
) -> None:
    """The outbox delivers on a loop of its own thread: a command acknowledged just before the
    request loop stalls (a long callback, a GC pause) is still answered during the stall, and
    stopping the bot stops that thread."""
    async with running(slack_settings(slack, db_url), slack) as bot:
        url = slack.response_url()
        body, headers = slack_requests.slash_command(
            command="/copilot",
            text="help",
            user_id=ALICE,
            user_name=slack.users[ALICE]["name"],
            channel_id=GENERAL,
            channel_name="general",
            team_id=TEAM_ID,
            response_url=url,
            trigger_id="1.2.stall",
        )
        resp = await bot.post(body, headers)
        assert resp.status == 200
        await asyncio.sleep(0.05)  # the handler is on its thread now
        deadline = time.monotonic() + 10
        while not slack.response_posts(url) and time.monotonic() < deadline:
            time.sleep(0.01)  # noqa: ASYNC251 -- on purpose: the request loop is blocked
        [answer] = slack.response_posts(url)
        assert "Console Copilot commands" in json.dumps(answer)
        assert any(t.name == "outbox" for t in threading.enumerate())
    assert not any(t.name == "outbox" for t in threading.enumerate())


async def test_a_command_answer_that_fails_at_once_is_retried_by_the_outbox(
    slack: FakeSlack, db_url: str
) -> None:
    """A slash command's private answer leaves from the handler thread right after it is
    stored. When that first post fails (503, then 429 with Retry-After), the row goes back to
    the outbox, which delivers it exactly once."""
    slack.fail("response_url", status=503, times=1)
    slack.rate_limit("response_url", retry_after=1, times=1)
    async with running(slack_settings(slack, db_url), slack) as bot:
        url = await bot.command("/copilot", "help")
        await wait_until(lambda: len(slack.response_posts(url)) == 1, within=30)
        await bot.app.idle()
        [row] = outbox_rows(bot.app)
        assert (row.status, row.attempts) == ("sent", 3)  # the handler's try, then two more
        assert "429" in (row.last_error or "")
        rid = url.rsplit("/", 1)[-1]
        attempts = [c for c in slack.calls("response_url") if c.path.endswith("/" + rid)]
        assert len(attempts) == 3
        assert attempts[2].time - attempts[1].time >= 1.0  # Retry-After honoured
    assert len(slack.response_posts(url)) == 1


async def test_a_command_answer_is_posted_once_by_the_handler_not_the_worker(
    slack: FakeSlack, db_url: str
) -> None:
    async with running(slack_settings(slack, db_url), slack) as bot:
        url = await bot.command("/copilot", "help")
        [row] = outbox_rows(bot.app)
        assert (row.status, row.attempts, row.lease_until) == ("sent", 1, None)
        assert len(slack.calls("response_url")) == 1 and len(slack.response_posts(url)) == 1


def test_a_response_url_that_is_not_http_is_refused_for_good() -> None:
    """The answer is not retried against a URL that can never work (a fuzzed or forged
    payload that still passed the signature check)."""
    api = SlackApi(WebClient(token="xoxb-test"))
    for url in ("hooks.slack.com/commands/1", "file:///etc/passwd", ""):
        with pytest.raises(DeliveryError) as err:
            api.respond(url, Message.plain("hi"))
        assert err.value.permanent
