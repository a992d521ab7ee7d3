"""The Alertmanager webhook: real 0.25 payloads, then real Prometheus + Alertmanager."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from sqlmodel import select

from bot.app import CopilotApp, create_app
from bot.clients.alertmanager import AlertmanagerClient
from bot.config import load_settings
from bot.events import Platform
from bot.platforms.base import ChatError
from storage.db import unit_of_work
from storage.models.core import OutboxMessage
from storage.models.incidents import AlertGroup, Incident
from tests.harness.promstack import Exporter, PromStack, StackConfig

CONTRACTS = Path(__file__).resolve().parents[2] / "contracts" / "prometheus"
TOKEN = "test-webhook-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def payload(name: str) -> bytes:
    return next(CONTRACTS.glob(f"{name}*.json")).read_bytes()


@pytest.fixture
async def local(db_url: str) -> AsyncIterator[tuple[CopilotApp, TestClient]]:
    settings = load_settings(
        database_url=db_url,
        copilot_demo=True,
        copilot_incidents_channel="incidents",
        copilot_alerts_channel="alerts",
        alertmanager_webhook_token=TOKEN,
        # the live scheduler runs on the real clock: on Mondays 09:00-09:30 UTC its weekly stats
        # job posted into the alerts channel these tests count (3 failures in a clean clone)
        copilot_scheduler_enabled=False,
    )
    app = create_app(settings)
    client = TestClient(TestServer(app.web))
    await client.start_server()
    yield app, client
    await client.close()


async def post(client: TestClient, body: bytes, headers: dict[str, str] | None = None) -> Any:
    return await client.post(
        "/alertmanager/webhook",
        data=body,
        headers={"Content-Type": "application/json", **(AUTH if headers is None else headers)},
    )


async def alerts_channel(client: TestClient) -> list[Any]:
    r = await client.get("/api/local/messages", params={"channel": "C-alerts", "user": "alice"})
    return [m for m in (await r.json())["messages"] if m["user_id"] == "copilot"]


def rows(app: CopilotApp, model: Any) -> list[Any]:
    with unit_of_work(app.engine) as s:
        return list(s.exec(select(model).order_by(model.id)).all())


def buttons(message: dict[str, Any]) -> list[str]:
    return [
        b["action_id"]
        for block in message["message"]["blocks"]
        if block["type"] == "actions"
        for b in block["buttons"]
    ]


async def test_token_and_malformed_bodies(local: Any) -> None:
    app, client = local
    assert (await post(client, payload("03"), headers={})).status == 401
    assert (await post(client, payload("03"), headers={"Authorization": "Bearer no"})).status == 401
    assert (await post(client, b"{not json")).status == 400
    assert (await post(client, b"[]")).status == 400
    bad = json.loads(payload("03"))
    del bad["groupKey"]
    assert (await post(client, json.dumps(bad).encode())).status == 400
    bad = json.loads(payload("03")) | {"version": "3"}
    assert (await post(client, json.dumps(bad).encode())).status == 400
    bad = json.loads(payload("03")) | {"alerts": [{"labels": "x"}]}
    assert (await post(client, json.dumps(bad).encode())).status == 400
    for truncated in ("many", -1, 1.5):  # a handler failure later, not a 400, before the check
        bad = json.loads(payload("03")) | {"truncatedAlerts": truncated}
        assert (await post(client, json.dumps(bad).encode())).status == 400
    await app.idle()
    assert rows(app, AlertGroup) == [] and await alerts_channel(client) == []


async def test_one_message_per_group_dedupe_and_resolve(local: Any) -> None:
    app, client = local
    r = await post(client, payload("03"))
    assert r.status == 200 and (await r.json())["duplicate"] is False
    r = await post(client, payload("03"))  # the same delivery again
    assert (await r.json())["duplicate"] is True
    await app.idle()
    msgs = await alerts_channel(client)
    assert len(msgs) == 1 and "FIRING: KubePodCrashLooping" in msgs[0]["text"]
    assert buttons(msgs[0]) == ["alert:declare", "alert:ack", "alert:silence"]
    assert rows(app, Incident) == []  # severity=warning: no auto-declare

    await post(client, payload("04"))  # the same group resolved
    await app.idle()
    msgs = await alerts_channel(client)
    assert len(msgs) == 1 and "RESOLVED: KubePodCrashLooping" in msgs[0]["text"]
    assert buttons(msgs[0]) == []
    (group,) = rows(app, AlertGroup)
    assert group.status == "resolved"

    await post(client, payload("02"))  # another group: another message
    await app.idle()
    msgs = await alerts_channel(client)
    assert len(msgs) == 2 and "and 1 more" in json.dumps(msgs[1]["message"], ensure_ascii=False)


async def test_critical_alert_auto_declares_once_per_group(local: Any) -> None:
    app, client = local
    await post(client, payload("01"))
    await app.idle()
    (inc,) = rows(app, Incident)
    assert inc.source == "alert" and inc.severity == 1
    assert inc.title == "Target 127.0.0.1:19097 of job down-target is down"
    again = json.loads(payload("01"))
    again["alerts"][0]["annotations"]["description"] = "still down"  # a changed repeat
    await post(client, json.dumps(again).encode())
    await app.idle()
    assert len(rows(app, Incident)) == 1
    msgs = await alerts_channel(client)
    assert len(msgs) == 1 and "INC-1" in json.dumps(msgs[0]["message"])
    assert "alert:declare" not in buttons(msgs[0])
    await post(client, payload("05"))
    await app.idle()
    assert rows(app, AlertGroup)[0].status == "resolved"
    from storage.models.incidents import TimelineEntry

    kinds = [e.kind for e in rows(app, TimelineEntry)]
    assert kinds == ["declare", "alert", "alert"]


async def test_a_failed_auto_declare_is_said_in_the_alerts_channel(local: Any) -> None:
    """A webhook has no person to whisper an error to: it goes to the channel, and nothing is
    left undeliverable in the outbox (it was an ephemeral to the 'alertmanager' actor)."""
    app, client = local
    api = app.runtime.apis[Platform.LOCAL]

    def refuse(name: str, *, topic: str = "") -> Any:
        raise ChatError("restricted_action")

    api.create_channel = refuse  # type: ignore[method-assign]  # the platform says no
    await post(client, payload("01"))
    await app.idle()
    assert rows(app, Incident) == []
    said = json.dumps([m["message"] for m in await alerts_channel(client)])
    assert "Could not create the incident channel: restricted_action" in said
    with unit_of_work(app.engine) as s:
        ops = [(m.op, m.status) for m in s.exec(select(OutboxMessage)).all()]
    assert ("ephemeral", "failed") not in ops and all(st == "sent" for _, st in ops)


async def test_buttons_declare_ack_and_silence_without_alertmanager(local: Any) -> None:
    app, client = local
    await post(client, payload("03"))
    await app.idle()
    (group,) = rows(app, AlertGroup)

    async def click(user: str, action: str) -> None:
        body = {"user": user, "channel": "C-alerts", "action_id": action, "value": str(group.id)}
        assert (await client.post("/api/local/action", json=body)).status == 200
        await app.idle()

    await click("bob", "alert:ack")
    await click("alice", "alert:declare")
    await click("alice", "alert:declare")
    (inc,) = rows(app, Incident)
    assert inc.commander_id == "alice" and inc.severity == 2
    msg = (await alerts_channel(client))[0]
    assert "Acknowledged by" in json.dumps(msg["message"]) and buttons(msg) == ["alert:silence"]
    await click("alice", "alert:silence")
    r = await client.get("/api/local/messages", params={"channel": "C-alerts", "user": "alice"})
    last = (await r.json())["messages"][-1]
    assert last["ephemeral"] and "ALERTMANAGER_URL" in last["text"]


async def _until(check: Callable[[], bool], limit: float = 60.0) -> None:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if await asyncio.to_thread(check):
            return
        await asyncio.sleep(0.2)
    raise AssertionError("condition not reached in time")


async def test_real_prometheus_and_alertmanager(
    local: Any, exporter: Exporter, promstack_factory: Callable[..., PromStack]
) -> None:
    app, client = local
    exporter.set("copilot_test_errors", {"service": "checkout"}, 1)
    rule = {
        "alert": "CheckoutErrors",
        "expr": "copilot_test_errors > 0",
        "for": "0s",
        "labels": {"severity": "critical"},
        "annotations": {"summary": "Checkout is failing", "runbook_url": "https://rb.invalid/c"},
    }
    stack = promstack_factory(
        StackConfig(
            scrape_targets=[f"127.0.0.1:{exporter.port}"],
            rules=[{"name": "test", "rules": [rule]}],
            webhook_url=str(client.make_url("/alertmanager/webhook")),
            webhook_token=TOKEN,
        )
    )
    app.services.alertmanager = AlertmanagerClient(stack.alertmanager_url)

    def firing() -> bool:
        return any(g.status == "firing" for g in rows(app, AlertGroup))

    await _until(firing)
    await app.idle()
    (group,) = rows(app, AlertGroup)
    assert group.group_key == '{}:{alertname="CheckoutErrors"}'
    (inc,) = rows(app, Incident)  # severity=critical: auto-declared
    assert inc.title == "Checkout is failing" and inc.service == "checkout"
    msgs = await alerts_channel(client)
    assert len(msgs) == 1 and "FIRING: CheckoutErrors" in msgs[0]["text"]

    exporter.set("copilot_test_errors", {"service": "checkout"}, 0)
    await _until(lambda: rows(app, AlertGroup)[0].status == "resolved")
    await app.idle()
    msgs = await alerts_channel(client)
    assert len(msgs) == 1 and "RESOLVED: CheckoutErrors" in msgs[0]["text"]

    body = {"user": "bob", "channel": "C-alerts", "action_id": "alert:silence", "value": "1"}
    assert (await client.post("/api/local/action", json=body)).status == 200
    await app.idle()
    (group,) = rows(app, AlertGroup)
    assert group.silence_id and group.silenced_by == "bob"
    silences = await (await client.session.get(f"{stack.alertmanager_url}/api/v2/silences")).json()
    assert [s["id"] for s in silences] == [group.silence_id]
    assert silences[0]["matchers"][0] == {
        "name": "alertname",
        "value": "CheckoutErrors",
        "isRegex": False,
        "isEqual": True,
    }
