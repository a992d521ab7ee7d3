"""The issue's "done when", end to end on the local workspace: a user runs a runbook, sees the
dry run, cannot approve it herself, a second user approves, the steps complete, the audit
chain verifies."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from bot.app import CopilotApp, create_app
from bot.clients.kubernetes import KubeClient
from bot.config import load_settings
from handlers import runbooks as runbook_handlers
from storage import audit
from storage.db import unit_of_work
from tests.fakes.kubernetes import FakeCluster
from tests.runbooks.conftest import cluster, kube, kube_server

__all__ = ["cluster", "kube", "kube_server"]


@pytest.fixture
async def local(db_url: str, kube: KubeClient) -> AsyncIterator[tuple[CopilotApp, TestClient]]:
    app = create_app(load_settings(database_url=db_url, copilot_demo=True))
    if "runbook" not in app.router.commands:
        runbook_handlers.register(app.router)
    app.services.kubernetes = kube
    client = TestClient(TestServer(app.web))
    await client.start_server()
    yield app, client
    await client.close()


async def _send(client: TestClient, user: str, text: str) -> None:
    r = await client.post(
        "/api/local/send", json={"user": user, "channel": "C-general", "text": text}
    )
    assert r.status == 200, await r.text()


async def _click(client: TestClient, user: str, msg: dict[str, Any], action_id: str) -> None:
    button = next(
        b
        for blk in msg["message"]["blocks"]
        if blk["type"] == "actions"
        for b in blk["buttons"]
        if b["action_id"] == action_id
    )
    r = await client.post(
        "/api/local/action",
        json={
            "user": user,
            "channel": "C-general",
            "action_id": action_id,
            "value": button["value"],
            "message_id": msg["id"],
        },
    )
    assert r.status == 200, await r.text()


async def _bot(client: TestClient, user: str) -> list[dict[str, Any]]:
    r = await client.get("/api/local/messages", params={"channel": "C-general", "user": user})
    return [m for m in (await r.json())["messages"] if m["user_id"] == "copilot"]


async def test_restart_with_a_second_approver(
    local: tuple[CopilotApp, TestClient], cluster: FakeCluster
) -> None:
    app, client = local
    await _send(
        client, "alice", "/runbook run restart-deployment namespace=shop deployment=cart --dry-run"
    )
    await app.idle()
    dry = (await _bot(client, "alice"))[-1]
    assert "restartedAt" in str(dry["message"]) and "Dry run" in dry["text"]

    await _send(client, "alice", "/runbook run restart-deployment namespace=shop deployment=cart")
    await app.idle()
    request = (await _bot(client, "alice"))[-1]
    assert "waiting for approval" in request["text"]
    await _click(client, "alice", request, "runbook:approve")
    await app.idle()
    refusal = (await _bot(client, "alice"))[-1]
    assert refusal["ephemeral"] and "another approver" in refusal["text"]

    await _click(client, "bob", request, "runbook:approve")
    await app.idle()
    msgs = await _bot(client, "bob")
    updated = next(m for m in msgs if m["id"] == request["id"])
    assert "succeeded" in updated["text"]
    assert "✅ 1. Restart pods" in str(updated["message"])
    thread = [m for m in msgs if m.get("thread") == request["id"]]
    assert thread and "Deployment shop/cart is restarting." in thread[-1]["text"]
    ann = cluster.get("/apis/apps/v1", "deployments", "shop", "cart")["spec"]["template"]
    assert "kubectl.kubernetes.io/restartedAt" in ann["metadata"]["annotations"]
    with unit_of_work(app.engine) as s:
        assert audit.verify(s).ok


async def test_usage_errors_are_specific(local: tuple[CopilotApp, TestClient]) -> None:
    app, client = local
    await _send(
        client, "alice", "/runbook run scale-deployment namespace=shop deployment=cart replicas=500"
    )
    await _send(client, "alice", "/runbook status abc")
    await app.idle()
    texts = [m["text"] for m in await _bot(client, "alice")]
    assert any("replicas must be at most 50, got 500" in t for t in texts)
    assert any("A run id is a number" in t for t in texts)
