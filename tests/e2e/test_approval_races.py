"""Out-of-order and concurrent approval clicks through the real HTTP paths (issue #10).

Signed Slack interactive payloads to `/slack/events` (and HMAC-signed Mattermost action
callbacks): approve after cancel, reject after approve, two approvers clicking at once, a
click on an expired approval. Each asserts exactly one outcome, one audit entry per decision,
no extra Kubernetes change, and a specific ephemeral error for the loser.
"""

from __future__ import annotations

import asyncio
import copy
import itertools
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from sqlmodel import select

from storage.db import unit_of_work
from storage.models.core import AuditEntry
from tests.fakes import mattermost_requests as mr
from tests.fakes import slack_requests
from tests.fakes._server import wait_until
from tests.fakes.mattermost_outgoing import click as mm_click
from tests.fakes.mattermost_outgoing import run_command
from tests.fakes.slack_api import TEAM_ID, FakeSlack
from tests.platforms.mattermost_app import MMWorld, fake_mattermost, running_mm
from tests.platforms.slack_app import (
    BOB,
    CAROL,
    GENERAL,
    SlackBot,
    fake_slack,
    find_button,
    kubeconfig_for,
    running,
    slack_settings,
)

RESTART = "run restart-deployment namespace=shop deployment=cart"
_trigger = itertools.count(1)


@pytest.fixture
def slack() -> Iterator[FakeSlack]:
    with fake_slack() as fake:
        yield fake


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Any]:
    c = kubeconfig_for(tmp_path)
    yield c
    c.stop()


def audit_actions(bot: Any, run_id: int) -> list[str]:
    with unit_of_work(bot.app.engine) as s:
        rows = s.exec(select(AuditEntry).where(AuditEntry.subject == f"run:{run_id}")).all()
        return [r.action for r in rows]


def restarts(cluster: Any) -> int:
    return len(
        [
            r
            for r in cluster.server.cluster.requests
            if r.method == "PATCH" and "dryRun" not in r.query and "/deployments/cart" in r.path
        ]
    )


async def click_payload(
    bot: SlackBot, message: dict[str, Any], action_id: str, user: str
) -> tuple[tuple[bytes, dict[str, str]], str]:
    """A signed block_actions request for one button of the message, and its response_url."""
    button = find_button(message, action_id)
    url = bot.slack.response_url()
    payload = slack_requests.block_actions_payload(
        button["action_id"],
        button.get("value", ""),
        user=user,
        channel=GENERAL,
        message_ts=message["ts"],
        response_url=url,
        trigger_id=f"{next(_trigger)}.777.race",
    )
    name = bot.slack.users[user]["name"]
    payload["user"].update({"username": name, "name": name, "team_id": TEAM_ID})
    payload["team"]["id"] = TEAM_ID
    payload["message"] = {k: v for k, v in message.items() if not k.startswith("_")}
    return slack_requests.interactive(payload), url


def said_to(slack: FakeSlack, user: str, url: str) -> str:
    """Everything the bot told one person privately: response_url posts and ephemerals."""
    posts = slack.response_posts(url)
    ephemerals = [e for e in slack.ephemerals if e["user"] == user]
    return json.dumps(posts + ephemerals, ensure_ascii=False)


async def request_run(bot: SlackBot, slack: FakeSlack) -> tuple[dict[str, Any], int]:
    await bot.command("/runbook", RESTART)
    message = copy.deepcopy(slack.messages(GENERAL)[-1])  # what a stale client still shows
    return message, int(find_button(message, "runbook:approve")["value"])


def updates_of(slack: FakeSlack, ts: str) -> list[str]:
    return [json.dumps(c.params) for c in slack.calls("chat.update") if c.params.get("ts") == ts]


async def test_approve_after_cancel(slack: FakeSlack, db_url: str, cluster: Any) -> None:
    settings = slack_settings(
        slack, db_url, kubeconfig=str(cluster.kubeconfig), copilot_demo_cluster=True
    )
    async with running(settings, slack) as bot:
        message, run_id = await request_run(bot, slack)
        await bot.command("/runbook", f"cancel {run_id}")  # the requester withdraws it
        assert len(updates_of(slack, message["ts"])) == 1
        request, url = await click_payload(bot, message, "runbook:approve", BOB)
        resp = await bot.post(*request)
        assert resp.status == 200
        await bot.app.idle()
        told = said_to(slack, BOB, url)
        assert f"Run #{run_id} is cancelled; nothing to approve" in told, told
        assert audit_actions(bot, run_id).count("runbook.cancelled") == 1
        assert "runbook.approved" not in audit_actions(bot, run_id)
        assert restarts(cluster) == 0
        final = json.dumps(slack.message(GENERAL, message["ts"])).lower()
        assert "cancelled" in final and "succeeded" not in final


async def test_reject_after_approve(slack: FakeSlack, db_url: str, cluster: Any) -> None:
    settings = slack_settings(
        slack, db_url, kubeconfig=str(cluster.kubeconfig), copilot_demo_cluster=True
    )
    async with running(settings, slack) as bot:
        message, run_id = await request_run(bot, slack)
        await bot.click(message, GENERAL, "runbook:approve", user=BOB)
        await bot.app.idle()
        updates = len(updates_of(slack, message["ts"]))
        request, url = await click_payload(bot, message, "runbook:reject", CAROL)
        resp = await bot.post(*request)  # Carol's stale message still shows the buttons
        assert resp.status == 200
        await bot.app.idle()
        told = said_to(slack, CAROL, url)
        assert f"Run #{run_id} is succeeded; nothing to reject" in told or (
            f"Run #{run_id}" in told and "nothing to reject" in told
        ), told
        actions = audit_actions(bot, run_id)
        assert actions.count("runbook.approved") == 1 and "runbook.rejected" not in actions
        assert restarts(cluster) == 1
        # the late click re-renders the same final state at most once, never a rejected one
        late = updates_of(slack, message["ts"])[updates:]
        assert len(late) <= 1 and all("reject" not in u.lower() for u in late), late
        assert "succeeded" in json.dumps(slack.message(GENERAL, message["ts"])).lower()


async def test_two_approvers_click_at_once(slack: FakeSlack, db_url: str, cluster: Any) -> None:
    settings = slack_settings(
        slack, db_url, kubeconfig=str(cluster.kubeconfig), copilot_demo_cluster=True
    )
    async with running(settings, slack) as bot:
        message, run_id = await request_run(bot, slack)
        (bob_req, bob_url), (carol_req, carol_url) = (
            await click_payload(bot, message, "runbook:approve", BOB),
            await click_payload(bot, message, "runbook:approve", CAROL),
        )
        # both requests are in flight together; the handlers run on the worker pool
        responses = await asyncio.gather(bot.post(*bob_req), bot.post(*carol_req))
        assert [r.status for r in responses] == [200, 200]
        await bot.app.idle()
        await wait_until(lambda: restarts(cluster) >= 1, within=10)
        actions = audit_actions(bot, run_id)
        assert actions.count("runbook.approved") == 1, actions
        assert actions.count("runbook.succeeded") == 1, actions
        assert restarts(cluster) == 1
        told = {BOB: said_to(slack, BOB, bob_url), CAROL: said_to(slack, CAROL, carol_url)}
        losers = [u for u, t in told.items() if "nothing to approve" in t]
        assert len(losers) == 1, told  # exactly one loser, told specifically
        winner = BOB if losers == [CAROL] else CAROL
        assert "nothing to approve" not in told[winner]
        assert "succeeded" in json.dumps(slack.message(GENERAL, message["ts"])).lower()


async def test_click_on_expired_approval(slack: FakeSlack, db_url: str, cluster: Any) -> None:
    settings = slack_settings(
        slack, db_url, kubeconfig=str(cluster.kubeconfig), copilot_demo_cluster=True
    )
    async with running(settings, slack) as bot:
        message, run_id = await request_run(bot, slack)
        past = datetime.now(UTC) - timedelta(minutes=1)
        with bot.app.engine.begin() as conn:  # two hours later: the 2 h expiry has passed
            conn.execute(
                text("UPDATE runbook_run SET expires_at = :t WHERE id = :id"),
                {"t": past, "id": run_id},
            )
        request, url = await click_payload(bot, message, "runbook:approve", BOB)
        assert (await bot.post(*request)).status == 200
        await bot.app.idle()
        told = said_to(slack, BOB, url)
        assert "expired" in told.lower(), told
        actions = audit_actions(bot, run_id)
        assert actions.count("runbook.approval_refused") == 1, actions
        assert "runbook.approved" not in actions
        assert restarts(cluster) == 0


# Mattermost: the same race through HMAC-signed action callbacks ---------------------------
@pytest.fixture
def world() -> Iterator[MMWorld]:
    with fake_mattermost() as w:
        yield w


async def test_mattermost_two_approvers_click_at_once(
    world: MMWorld, db_url: str, cluster: Any
) -> None:
    fake = world.fake
    carol = fake.seed_user("carol")["id"]
    fake.seed_team("sre", members=[world.bob, carol])  # policies/approvals.yaml: team sre
    fake.members[world.town].append(carol)
    async with running_mm(
        world, db_url, kubeconfig=str(cluster.kubeconfig), copilot_demo_cluster=True
    ) as bot:
        await run_command(fake, "runbook", RESTART, user_id=world.alice, channel_id=world.town)
        await bot.app.idle()
        post = [p for p in fake.channel_posts(world.town) if p["user_id"] == fake.bot["id"]][-1]
        actions = [a for att in post["props"]["attachments"] for a in att.get("actions") or []]
        approve = next(
            a for a in actions if a["integration"]["context"]["action_id"] == "runbook:approve"
        )
        run_id = int(approve["integration"]["context"]["value"])
        # approving asks to confirm (an ephemeral with a Confirm button) on Mattermost
        for user in (world.bob, carol):
            await mm_click(fake, post["id"], approve["id"], user_id=user)
        await bot.app.idle()
        confirms = {
            e["user_id"]: e["post"]["props"]["attachments"][0]["actions"][0]
            for e in fake.ephemerals
            if e["user_id"] in (world.bob, carol) and e["post"].get("props")
        }
        assert set(confirms) == {world.bob, carol}, fake.ephemerals
        before = len(fake.ephemerals)
        requests = [
            mr.action(
                confirms[user]["integration"]["context"],
                user_id=user,
                channel_id=world.town,
                post_id=post["id"],
            )
            for user in (world.bob, carol)
        ]
        responses = await asyncio.gather(
            *(bot.client.post("/mattermost/actions", data=b, headers=h) for b, h in requests)
        )
        assert [r.status for r in responses] == [200, 200]
        answers = [await r.json() for r in responses]
        await bot.app.idle()
        await wait_until(lambda: restarts(cluster) >= 1, within=10)
        audit = audit_actions(bot, run_id)
        assert restarts(cluster) == 1
        assert audit.count("runbook.approved") == 1, audit
        assert restarts(cluster) == 1
        told = json.dumps([answers, fake.ephemerals[before:]], ensure_ascii=False)
        assert told.count("nothing to approve") == 1, told
        assert "succeeded" in json.dumps(fake.posts[post["id"]]).lower()
