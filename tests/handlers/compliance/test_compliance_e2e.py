"""/compliance scan, Propose fix, /compliance evidence and /copilot stats end to end through the
local workspace (HTTP), with the Kubernetes emulator behind the real client."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from bot.app import CopilotApp, create_app
from bot.clients.kubernetes import KubeClient
from bot.config import load_settings
from handlers.compliance import evidence, jobs
from storage.db import unit_of_work
from storage.models.compliance import Feedback, GuardrailScan
from storage.models.runbooks import RunbookRun
from tests.fakes.kubernetes import FakeCluster
from tests.handlers.compliance.conftest import workload


@pytest.fixture
async def local(db_url: str, gr_kube: KubeClient) -> AsyncIterator[tuple[CopilotApp, TestClient]]:
    app = create_app(
        load_settings(
            database_url=db_url,
            copilot_demo=True,
            copilot_alerts_channel="C-alerts",
            copilot_scheduler_enabled=False,  # the test runs the scheduled scan itself
        )
    )
    app.services.kubernetes = gr_kube
    client = TestClient(TestServer(app.web))
    await client.start_server()
    yield app, client
    await client.close()


async def _send(client: TestClient, user: str, text: str) -> None:
    r = await client.post(
        "/api/local/send", json={"user": user, "channel": "C-general", "text": text}
    )
    assert r.status == 200, await r.text()


async def _bot(client: TestClient, user: str, channel: str = "C-general") -> list[dict[str, Any]]:
    r = await client.get("/api/local/messages", params={"channel": channel, "user": user})
    return [m for m in (await r.json())["messages"] if m["user_id"] == "copilot"]


async def _click(
    client: TestClient, user: str, msg: dict[str, Any], action_id: str, label: str = ""
) -> None:
    button = next(
        b
        for blk in msg["message"]["blocks"]
        if blk["type"] == "actions"
        for b in blk["buttons"]
        if b["action_id"] == action_id and label in b["label"]
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


async def test_scan_propose_fix_evidence_stats(
    local: tuple[CopilotApp, TestClient], gr_cluster: FakeCluster
) -> None:
    app, client = local
    await _send(client, "alice", "/compliance scan --top 20")
    await app.idle()
    [scan] = await _bot(client, "alice")
    text = str(scan["message"])
    assert "36% of workloads meet every guardrail (5 of 14)" in text
    assert "Findings by rule" in text and "Fix:" in text
    assert "hunter2" not in text
    with unit_of_work(app.engine) as s:
        row = s.query(GuardrailScan).one()
        assert (row.workloads, row.compliant, row.findings) == (14, 5, 10)

    # Propose fix -> a label-workload run waiting for approval (never applied yet)
    await _click(client, "alice", scan, "compliance:fix", "unlabeled")
    await app.idle()
    msgs = await _bot(client, "alice")
    run_msg = msgs[-1]
    assert "Label a workload" in str(run_msg["message"])
    with unit_of_work(app.engine) as s:
        run = s.query(RunbookRun).one()
        assert run.runbook == "label-workload" and run.state == "pending_approval"
        assert '"name": "unlabeled"' in run.params and '"value": "internal"' in run.params
    dep = gr_cluster.get("/apis/apps/v1", "deployments", "shop", "unlabeled")
    assert "data-classification" not in dep["metadata"]["labels"]

    # bob approves: the label is set on the workload and its pods; the next scan finds it fixed
    await _click(client, "bob", run_msg, "runbook:approve")
    await app.idle()
    dep = gr_cluster.get("/apis/apps/v1", "deployments", "shop", "unlabeled")
    assert dep["metadata"]["labels"]["data-classification"] == "internal"
    assert dep["spec"]["template"]["metadata"]["labels"]["data-classification"] == "internal"
    workload(gr_cluster, "Deployment", "shop", "new-root", privileged=True)
    assert jobs.scheduled_scan(app.runtime, app.runtime.clock())
    await app.idle()
    [change] = await _bot(client, "alice", "C-alerts")
    ctext = str(change["message"])
    assert "1 new violation(s), 1 fixed" in ctext
    assert "new-root" in ctext and "unlabeled" in ctext
    assert not jobs.scheduled_scan(app.runtime, app.runtime.clock())  # nothing changed

    # evidence archive as an attachment; its manifest holds
    await _send(client, "alice", "/compliance evidence --from 2020-01-01")
    await app.idle()
    ev_msg = (await _bot(client, "alice"))[-1]
    att = ev_msg["message"]["attachments"][0]
    assert att["filename"].endswith(".zip")
    assert evidence.check_manifest(base64.b64decode(att["content_b64"])) == []

    # stats with the chart, and a feedback vote on it
    await _send(client, "alice", "/copilot stats --period 7d")
    await app.idle()
    st = (await _bot(client, "alice"))[-1]
    assert "Copilot stats for the last 7 days" in str(st["message"])
    png = base64.b64decode(st["message"]["attachments"][0]["content_b64"])
    assert png.startswith(b"\x89PNG")
    await _click(client, "bob", st, "feedback:up")
    await app.idle()
    await _click(client, "bob", st, "feedback:down")
    await app.idle()
    with unit_of_work(app.engine) as s:
        [vote] = s.query(Feedback).all()
        assert vote.vote == "down" and vote.kind == "stats"


async def test_scan_without_kubernetes_is_explained(local: tuple[CopilotApp, TestClient]) -> None:
    app, client = local
    app.services.kubernetes = None
    await _send(client, "alice", "/compliance scan")
    await app.idle()
    [msg] = await _bot(client, "alice")
    assert "Kubernetes is not configured" in msg["text"]
