"""The real app serving Slack's Events API against FakeSlack: commands, buttons, events.

Runs on SQLite and PostgreSQL. Every Web API call the bot makes is checked against Slack's
OpenAPI spec and the Block Kit limits by the fake (teardown of `fake_slack_thread`).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bot.context import Context
from bot.messages import Message
from tests.fakes import slack_requests
from tests.fakes._server import wait_until
from tests.fakes.slack_api import BOT_USER_ID, TEAM_ID, FakeSlack
from tests.platforms.slack_app import (
    ALICE,
    BOB,
    GENERAL,
    fake_slack,
    inbox_count,
    kubeconfig_for,
    running,
    slack_settings,
)


@pytest.fixture
def slack() -> Iterator[FakeSlack]:
    with fake_slack() as fake:
        yield fake


async def test_url_verification_and_help(slack: FakeSlack, db_url: str) -> None:
    async with running(slack_settings(slack, db_url), slack) as bot:
        body, headers = slack_requests.event(slack_requests.url_verification_event("chal-42"))
        resp = await bot.post(body, headers)
        assert resp.status == 200 and "chal-42" in await resp.text()

        url = await bot.command("/copilot", "help")
        posts = slack.response_posts(url)
        assert len(posts) == 1, posts
        assert posts[0]["response_type"] == "ephemeral"
        assert "/incident" in json.dumps(posts[0])
        assert slack.calls("chat.postMessage") == []  # help is only for the asker


async def test_incident_declare_creates_channel(slack: FakeSlack, db_url: str) -> None:
    async with running(slack_settings(slack, db_url), slack) as bot:
        await bot.command("/incident", f"declare Checkout 500s --sev 1 --commander <@{BOB}|bob>")
        created = [c.params["name"] for c in slack.calls("conversations.create")]
        assert len(created) == 1 and created[0].startswith("inc-") and "checkout-500s" in created[0]
        cid = next(c for c, ch in slack.channels.items() if ch["name"] == created[0])
        assert ALICE in slack.members[cid] and BOB in slack.members[cid]
        header = slack.messages(cid)[0]
        assert "INC-1" in json.dumps(header) and header["ts"] in slack.pins[cid]
        announce = slack.messages("incidents")
        assert len(announce) == 1 and "INC-1" in json.dumps(announce[0])


async def test_runbook_approval_by_a_second_user(
    slack: FakeSlack, db_url: str, tmp_path: Path
) -> None:
    cluster = kubeconfig_for(tmp_path)
    try:
        settings = slack_settings(
            slack, db_url, kubeconfig=str(cluster.kubeconfig), copilot_demo_cluster=True
        )
        async with running(settings, slack) as bot:
            await bot.command("/runbook", "run restart-deployment namespace=shop deployment=cart")
            posted = slack.messages(GENERAL)
            assert len(posted) == 1, slack.response_posts()
            approval = posted[0]
            assert "restart-deployment" in json.dumps(approval)

            await bot.click(approval, GENERAL, "runbook:approve", user=BOB)
            await bot.app.idle()
            updated = slack.message(GENERAL, approval["ts"])
            assert updated is not None and slack.calls("chat.update")
            text = json.dumps(updated)
            assert "succeeded" in text.lower() or "completed" in text.lower(), text[:3000]
            restarted = cluster.server.cluster.get("/apis/apps/v1", "deployments", "shop", "cart")
            annotations = restarted["spec"]["template"]["metadata"].get("annotations", {})
            assert "kubectl.kubernetes.io/restartedAt" in annotations
    finally:
        cluster.stop()


async def test_requester_cannot_approve(slack: FakeSlack, db_url: str, tmp_path: Path) -> None:
    cluster = kubeconfig_for(tmp_path)
    try:
        settings = slack_settings(
            slack, db_url, kubeconfig=str(cluster.kubeconfig), copilot_demo_cluster=True
        )
        async with running(settings, slack) as bot:
            await bot.command(
                "/runbook", "run restart-deployment namespace=shop deployment=cart", user=BOB
            )
            approval = slack.messages(GENERAL)[0]
            await bot.click(approval, GENERAL, "runbook:approve", user=BOB)
            assert slack.calls("chat.update") == [] or "succeeded" not in json.dumps(
                slack.message(GENERAL, approval["ts"])
            )
            assert slack.ephemerals or slack.response_posts()
    finally:
        cluster.stop()


async def test_mention_and_thread_message(slack: FakeSlack, db_url: str) -> None:
    async with running(slack_settings(slack, db_url), slack) as bot:
        seen: list[str] = []

        def in_thread(ctx: Context) -> Message | None:
            seen.append(ctx.event.text)
            return Message.plain("noted: " + ctx.event.text)

        bot.app.router.thread_message(lambda ctx: ctx.event.thread_id == root["ts"], in_thread)
        root = slack.user_message(GENERAL, ALICE, f"<@{BOT_USER_ID}> help")
        mention = slack_requests.app_mention_event(
            f"<@{BOT_USER_ID}> help",
            user=ALICE,
            channel=GENERAL,
            ts=root["ts"],
            event_id="Ev0MENTION1",
            team=TEAM_ID,
        )
        resp = await bot.post(*slack_requests.event(mention))
        assert resp.status == 200
        await bot.app.idle()
        replies = slack.messages(GENERAL, thread_ts=root["ts"])
        assert len(replies) == 2 and replies[1]["thread_ts"] == root["ts"]

        msg = slack_requests.thread_message_event(
            "the pods are back",
            thread_ts=root["ts"],
            user=BOB,
            channel=GENERAL,
            ts="1700000000.000100",
            event_id="Ev0THREAD01",
        )
        msg["team_id"] = TEAM_ID
        resp = await bot.post(*slack_requests.event(msg))
        assert resp.status == 200
        await bot.app.idle()
        assert seen == ["the pods are back"]
        assert "noted: the pods are back" in json.dumps(slack.messages(GENERAL, root["ts"]))


def _block_kit_ok(calls: list[Any]) -> None:
    for call in calls:
        blocks = call.params.get("blocks")
        if isinstance(blocks, str):
            blocks = json.loads(blocks)
        assert blocks is None or len(blocks) <= 50


async def test_block_kit_limits_on_every_message(slack: FakeSlack, db_url: str) -> None:
    async with running(slack_settings(slack, db_url), slack) as bot:
        long_title = "x" * 400
        await bot.command("/incident", f"declare {long_title}")
        await bot.command("/copilot", "help")
        _block_kit_ok(slack.calls("chat.postMessage"))
        assert inbox_count(bot.app) == 2


def _socket_help(response_url: str, trigger_id: str) -> dict[str, str]:
    """Alice's `/copilot help` as a Socket Mode envelope's payload."""
    return slack_requests.slash_command_form(
        command="/copilot",
        text="help",
        user_id=ALICE,
        channel_id=GENERAL,
        team_id=TEAM_ID,
        enterprise_id="",
        response_url=response_url,
        trigger_id=trigger_id,
    )


async def test_socket_mode_slash_command(slack: FakeSlack, db_url: str) -> None:
    settings = slack_settings(slack, db_url, slack_app_token=slack.app_token)
    async with running(settings, slack) as bot:
        await slack.on_loop(slack.wait_socket())
        assert slack.calls("apps.connections.open")
        url = slack.response_url()
        payload = _socket_help(url, "1.2.socket")
        eid = await slack.on_loop(slack.send_envelope("slash_commands", payload))
        ack = await slack.on_loop(slack.wait_ack(eid))
        assert ack["envelope_id"] == eid
        await wait_until(lambda: bool(slack.response_posts(url)), within=10)
        await bot.app.idle()
        assert inbox_count(bot.app) == 1
        assert "/incident" in json.dumps(slack.response_posts(url))
        resp = await bot.client.post("/slack/events", data=b"{}")
        assert resp.status == 404  # no HTTP endpoint in Socket Mode


@pytest.fixture
def sqlite_file(tmp_path: Path, _sqlite_template: Path) -> Path:
    import shutil

    path = tmp_path / "copilot.db"
    shutil.copyfile(_sqlite_template, path)
    return path


async def test_socket_mode_leaves_unrecorded_envelopes_unacknowledged(
    slack: FakeSlack, sqlite_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """While the inbox cannot record (another process holds SQLite's write lock past the
    insert's timeout) no envelope is acknowledged, so Slack delivers it again; the redelivery
    is recorded, acknowledged and answered once."""
    import sqlite3

    from bot import inbox

    monkeypatch.setattr(inbox, "RECORD_TIMEOUT", 0.2)
    settings = slack_settings(slack, f"sqlite:///{sqlite_file}", slack_app_token=slack.app_token)
    async with running(settings, slack) as bot:
        await slack.on_loop(slack.wait_socket())
        url = slack.response_url()
        command = _socket_help(url, "1.2.unrecorded")
        mention = slack_requests.app_mention_event(
            f"<@{BOT_USER_ID}> help", user=ALICE, channel=GENERAL, team=TEAM_ID, event_id="EvLock"
        )
        holder = sqlite3.connect(sqlite_file, isolation_level=None, timeout=10)
        holder.execute("BEGIN IMMEDIATE")
        lost = [
            await slack.on_loop(slack.send_envelope("slash_commands", command)),
            await slack.on_loop(slack.send_envelope("events_api", mention)),
        ]
        for eid in lost:
            with pytest.raises(TimeoutError):
                await slack.on_loop(slack.wait_ack(eid, within=1.5))
        holder.execute("ROLLBACK")
        holder.close()
        assert inbox_count(bot.app) == 0

        again = [  # Slack's redelivery of what was not acknowledged
            await slack.on_loop(slack.send_envelope("slash_commands", command)),
            await slack.on_loop(
                slack.send_envelope("events_api", mention, retry_attempt=1, retry_reason="timeout")
            ),
        ]
        for eid in again:
            await slack.on_loop(slack.wait_ack(eid))
        await wait_until(lambda: bool(slack.response_posts(url)), within=10)
        await bot.app.idle()
        assert inbox_count(bot.app) == 2
        assert len(slack.response_posts(url)) == 1
