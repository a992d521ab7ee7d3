"""`/partner sandbox` end to end on the local workspace and the emulated Kubernetes API: the
approval-gated create run, the namespace objects, the expiry job deleting exactly once, and
the label guard that keeps any other namespace alive."""

from __future__ import annotations

import json
import shutil
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from aiohttp.test_utils import TestClient, TestServer
from sqlmodel import col, select

from bot.app import CopilotApp, create_app
from bot.clients.kubernetes import KubeClient
from bot.config import load_settings
from handlers.partners.sandbox import JOB_ID
from policies.engine import POLICIES
from storage import audit
from storage import partners as intakes
from storage.db import unit_of_work
from storage.models.core import AuditEntry
from storage.models.partners import Intake
from storage.models.runbooks import RunbookRun
from storage.models.sandboxes import PartnerSandbox
from tests.deploy.test_manifests import model_errors, openapi_errors, openapi_schemas
from tests.fakes.kubernetes import FakeCluster
from tests.runbooks.conftest import cluster, kube, kube_server

__all__ = ["cluster", "kube", "kube_server"]

T0 = datetime(2026, 11, 29, 10, 0, tzinfo=UTC)
CH = "C-partner-acme"
CORE = "/api/v1"
NETWORKING = "/apis/networking.k8s.io/v1"
LABEL = "copilot.example/partner"
Local = tuple[CopilotApp, TestClient, "Clock"]


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
async def local(db_url: str, kube: KubeClient) -> AsyncIterator[Local]:
    settings = load_settings(
        database_url=db_url, copilot_demo=True, copilot_partner_review_channel="partner-review"
    )
    app = create_app(settings)
    app.services.kubernetes = kube
    clock = Clock()
    app.runtime.clock = clock
    client = TestClient(TestServer(app.web))
    await client.start_server()
    yield app, client, clock
    await client.close()


async def send(local: Local, user: str, text: str) -> None:
    app, client, _ = local
    r = await client.post("/api/local/send", json={"user": user, "channel": CH, "text": text})
    assert r.status == 200, await r.text()
    await app.idle()


async def bot(local: Local, user: str = "alice") -> list[dict[str, Any]]:
    app, client, _ = local
    await app.idle()
    r = await client.get("/api/local/messages", params={"channel": CH, "user": user})
    return [m for m in (await r.json())["messages"] if m["user_id"] == "copilot"]


async def click(local: Local, user: str, msg: dict[str, Any], action_id: str) -> None:
    app, client, _ = local
    button = next(
        b
        for blk in msg["message"]["blocks"]
        if blk["type"] == "actions"
        for b in blk["buttons"]
        if b["action_id"] == action_id
    )
    body = {
        "user": user,
        "channel": CH,
        "action_id": action_id,
        "value": button["value"],
        "message_id": msg["id"],
    }
    r = await client.post("/api/local/action", json=body)
    assert r.status == 200, await r.text()
    await app.idle()


async def offer(local: Local, name: str, *, approve: bool = True) -> tuple[Intake, str]:
    """An intake thread (started for real); its review decision set directly."""
    app, _, clock = local
    await send(local, "alice", f"/partner intake {name}")
    with unit_of_work(app.engine) as s:
        row = s.exec(select(Intake).order_by(col(Intake.id).desc())).first()
        assert row is not None
        if approve:
            assert intakes.transition(
                s, intake_id=row.id or 0, from_states=("collecting",), now=clock(), state="approved"
            )
            row = intakes.get(s, intake_id=row.id or 0)
            assert row is not None
    root = next(m for m in await bot(local) if not m["thread"] and name in m["text"])
    return row, root["id"]


async def approval_request(local: Local) -> dict[str, Any]:
    return next(m for m in reversed(await bot(local)) if "waiting for approval" in m["text"])


def sandboxes(app: CopilotApp) -> list[PartnerSandbox]:
    with unit_of_work(app.engine) as s:
        return list(s.exec(select(PartnerSandbox).order_by(col(PartnerSandbox.id))).all())


def fire(app: CopilotApp, slot: datetime) -> str:
    app.scheduler.token = app.scheduler.renew()
    return app.scheduler.fire(app.scheduler.load_specs()[JOB_ID], slot)


async def thread_texts(local: Local, root: str) -> list[str]:
    return [m["text"] for m in await bot(local) if m["thread"] == root]


def actions(app: CopilotApp) -> list[str]:
    with unit_of_work(app.engine) as s:
        return list(s.exec(select(AuditEntry.action).order_by(col(AuditEntry.id))).all())


def metric(body: str, name: str) -> float:
    line = next(ln for ln in body.splitlines() if ln.startswith(name + " "))
    return float(line.split()[-1])


async def test_unapproved_offer_is_refused(local: Local, cluster: FakeCluster) -> None:
    app, _, _ = local
    row, _ = await offer(local, "Draft Offer", approve=False)
    await send(local, "alice", f"/partner sandbox {row.id}")
    last = (await bot(local))[-1]
    assert last["ephemeral"]
    assert f"Only an approved or published offer can get a sandbox (#{row.id} is" in last["text"]
    await send(local, "alice", f"/partner sandbox {row.id} --status")
    assert "has no sandbox" in (await bot(local))[-1]["text"]
    await send(local, "alice", "/partner sandbox 999")
    assert "No partner intake 999." in (await bot(local))[-1]["text"]
    await send(local, "alice", f"/partner sandbox {row.id} --days many")
    assert "--days" in (await bot(local))[-1]["text"]
    await send(local, "alice", "/partner help sandbox")
    assert "sandbox <id> [--days N] [--status]" in json.dumps((await bot(local))[-1]["message"])
    with unit_of_work(app.engine) as s:
        assert s.exec(select(RunbookRun)).all() == []
    assert sandboxes(app) == []
    assert cluster.list(CORE, "namespaces") == []


async def test_request_approve_expire_and_delete_once(local: Local, cluster: FakeCluster) -> None:
    app, client, clock = local
    row, root = await offer(local, "Acme Analytics")
    ns = f"partner-{row.slug}"
    await send(local, "dave", f"/partner sandbox {row.id} --days 0")
    assert "--days must be between 1 and 30, got 0." in (await bot(local, "dave"))[-1]["text"]

    # the partner asks in its own channel; the request shows the dry run and waits for approval
    await send(local, "dave", f"/partner sandbox {row.id} --days 3")
    request = await approval_request(local)
    assert not request["ephemeral"] and not request["thread"]
    assert f"namespace {ns}: state — → created" in json.dumps(
        request["message"], ensure_ascii=False
    )
    (sb,) = sandboxes(app)
    assert (sb.status, sb.namespace, sb.requested_by, sb.days) == ("requested", ns, "dave", 3)
    assert sb.expires_at == T0 + timedelta(days=3) and sb.run_id is not None
    assert cluster.list(CORE, "namespaces") == []
    assert any("requested sandbox" in t for t in await thread_texts(local, root))
    await send(local, "alice", f"/partner sandbox {row.id}")
    assert "already has a sandbox" in (await bot(local))[-1]["text"]

    # the requester cannot approve it; a second person can, and the run creates the objects
    await click(local, "dave", request, "runbook:approve")
    refusal = (await bot(local, "dave"))[-1]
    assert refusal["ephemeral"] and "another approver" in refusal["text"]
    assert cluster.list(CORE, "namespaces") == []
    await click(local, "bob", request, "runbook:approve")
    updated = next(m for m in await bot(local, "bob") if m["id"] == request["id"])
    assert "succeeded" in updated["text"]
    namespace = cluster.get(CORE, "namespaces", "", ns)
    quota = cluster.get(CORE, "resourcequotas", ns, "sandbox-quota")
    limits = cluster.get(CORE, "limitranges", ns, "sandbox-defaults")
    netpol = cluster.get(NETWORKING, "networkpolicies", ns, "sandbox-isolation")
    assert namespace["metadata"]["labels"] == {LABEL: row.slug, "copilot.example/sandbox": "true"}
    assert namespace["metadata"]["annotations"] == {
        "copilot.example/expires-at": "2026-12-02T10:00:00Z"
    }
    for obj in (quota, limits, netpol):
        assert obj["metadata"]["labels"] == {LABEL: row.slug}
    assert quota["spec"]["hard"] == {"requests.cpu": "4", "requests.memory": "8Gi", "pods": "20"}
    # the stored objects are valid against the Kubernetes OpenAPI (core/v1) and client models
    openapi_schemas()
    for obj, kind in ((namespace, "Namespace"), (quota, "ResourceQuota"), (limits, "LimitRange")):
        ref = {"$ref": f"#/components/schemas/io.k8s.api.core.v1.{kind}"}
        assert openapi_errors(obj, ref, kind) == []
    # (the model checker has no datetime type: leave out the server-set timestamp)
    meta = {k: v for k, v in netpol["metadata"].items() if k != "creationTimestamp"}
    assert model_errors({**netpol, "metadata": meta}, "V1NetworkPolicy", "NetworkPolicy") == []

    # the job notices the finished run, announces the sandbox once, and shows it in --status
    assert fire(app, T0 + timedelta(minutes=5)) == "done"
    assert fire(app, T0 + timedelta(minutes=5)) == "duplicate"
    assert fire(app, T0 + timedelta(minutes=10)) == "done"
    assert sandboxes(app)[0].status == "active"
    assert sum("is ready" in t for t in await thread_texts(local, root)) == 1
    await send(local, "dave", f"/partner sandbox {row.id} --status")
    status = (await bot(local, "dave"))[-1]
    assert status["ephemeral"] and ns in json.dumps(status["message"])
    assert "active" in json.dumps(status["message"])
    body = await (await client.get("/metrics")).text()
    assert metric(body, "copilot_partner_sandboxes_active") == 1.0

    # a day before expiry: one reminder
    clock.now = T0 + timedelta(days=2, hours=1)
    assert fire(app, clock.now) == "done"
    assert fire(app, clock.now + timedelta(minutes=5)) == "done"
    assert sum("will be deleted in 23" in t for t in await thread_texts(local, root)) == 1
    assert cluster.get(CORE, "namespaces", "", ns)

    # past expiry: two scheduler runs delete it exactly once and post once
    clock.now = T0 + timedelta(days=3, minutes=1)
    before = len(cluster.requests)
    assert fire(app, clock.now) == "done"
    assert fire(app, clock.now + timedelta(minutes=5)) == "done"
    deletes = [
        r
        for r in cluster.requests[before:]
        if r.method == "DELETE" and r.query.get("dryRun") != "All"
    ]
    assert [r.path for r in deletes] == [f"/api/v1/namespaces/{ns}"]
    assert cluster.list(CORE, "namespaces") == []
    assert cluster.list(CORE, "resourcequotas", ns) == []
    assert cluster.list(NETWORKING, "networkpolicies", ns) == []
    (sb,) = sandboxes(app)
    assert sb.status == "cleaned" and sb.cleanup_run_id is not None
    texts = await thread_texts(local, root)
    assert sum("expired and was deleted" in t for t in texts) == 1
    with unit_of_work(app.engine) as s:
        runs = s.exec(select(RunbookRun).order_by(col(RunbookRun.id))).all()
        assert [(r.runbook, r.state, r.level) for r in runs] == [
            ("partner-sandbox", "succeeded", "approval"),
            ("partner-sandbox-cleanup", "succeeded", "auto"),
        ]
        assert audit.verify(s).ok
    sandbox_actions = [a for a in actions(app) if a.startswith("partner.sandbox")]
    assert sandbox_actions == [
        "partner.sandbox_requested",
        "partner.sandbox_active",
        "partner.sandbox_cleaned",
    ]
    body = await (await client.get("/metrics")).text()
    assert metric(body, "copilot_partner_sandboxes_active") == 0.0
    assert 'copilot_partner_sandboxes{status="cleaned"} 1.0' in body
    # a new sandbox can be requested after the old one is gone
    await send(local, "alice", f"/partner sandbox {row.id} --status")
    assert "deleted" in json.dumps((await bot(local))[-1]["message"])


async def test_namespace_without_the_sandbox_label_is_never_deleted(
    local: Local, cluster: FakeCluster
) -> None:
    app, _, clock = local
    row, root = await offer(local, "Beta Store")
    ns = f"partner-{row.slug}"
    await send(local, "alice", f"/partner sandbox {row.id} --days 1")
    request = await approval_request(local)
    await click(local, "bob", request, "runbook:approve")
    assert fire(app, T0 + timedelta(minutes=5)) == "done"
    assert sandboxes(app)[0].status == "active"
    # someone took the namespace over for other work and dropped the sandbox label
    del cluster.get(CORE, "namespaces", "", ns)["metadata"]["labels"]["copilot.example/sandbox"]
    clock.now = T0 + timedelta(days=2)
    assert fire(app, clock.now) == "done"
    assert fire(app, clock.now + timedelta(minutes=5)) == "done"
    assert cluster.get(CORE, "namespaces", "", ns)
    assert not [r for r in cluster.requests if r.method == "DELETE"]
    (sb,) = sandboxes(app)
    assert sb.status == "failed" and "not labeled copilot.example/sandbox=true" in (sb.error or "")
    texts = await thread_texts(local, root)
    assert sum("expired but was not deleted" in t for t in texts) == 1
    assert "partner.sandbox_cleanup_failed" in actions(app)

    # the cleanup runbook run by hand refuses unlabeled and not-yet-expired namespaces alike
    cluster.add(
        CORE,
        "namespaces",
        {
            "metadata": {
                "name": "partner-prod",
                "labels": {LABEL: "prod"},
                "annotations": {"copilot.example/expires-at": "2020-01-01T00:00:00Z"},
            }
        },
    )
    cluster.add(
        CORE,
        "namespaces",
        {
            "metadata": {
                "name": "partner-fresh",
                "labels": {LABEL: "fresh", "copilot.example/sandbox": "true"},
                "annotations": {"copilot.example/expires-at": "2099-01-01T00:00:00Z"},
            }
        },
    )
    await send(local, "alice", "/runbook run partner-sandbox-cleanup partner=prod")
    assert "is not labeled copilot.example/sandbox=true" in (await bot(local))[-1]["text"]
    await send(local, "alice", "/runbook run partner-sandbox-cleanup partner=fresh")
    assert "it expires at 2099-01-01 00:00 UTC" in (await bot(local))[-1]["text"]
    assert cluster.get(CORE, "namespaces", "", "partner-prod")
    assert cluster.get(CORE, "namespaces", "", "partner-fresh")
    assert not [r for r in cluster.requests if r.method == "DELETE"]


async def active_sandbox(local: Local, name: str, days: int = 1) -> tuple[Intake, str]:
    app, _, _ = local
    row, root = await offer(local, name)
    await send(local, "alice", f"/partner sandbox {row.id} --days {days}")
    await click(local, "bob", await approval_request(local), "runbook:approve")
    assert fire(app, T0 + timedelta(minutes=5)) == "done"
    assert sandboxes(app)[-1].status == "active"
    return row, root


async def test_a_cleanup_interrupted_before_it_was_recorded_is_not_repeated(
    local: Local, cluster: FakeCluster
) -> None:
    """A leader that died after the cleanup run but before recording it: the next job run finds
    the same run (same request key), records it and posts once; the namespace is deleted once."""
    from handlers.partners.sandbox import CLEANUP_RUNBOOK
    from handlers.runbooks import service_for
    from runbooks.runs import Requester
    from runbooks.service import with_clock

    app, _, clock = local
    _, root = await active_sandbox(local, "Gamma Cloud")
    (sb,) = sandboxes(app)
    clock.now = T0 + timedelta(days=1, minutes=1)
    svc = with_clock(service_for(app.runtime), clock)
    out = svc.request_run(
        runbook=CLEANUP_RUNBOOK,
        params={"partner": sb.partner},
        requester=Requester("copilot", "local", "Console Copilot", CH),
        request_key=f"partner-sandbox:{sb.id}:cleanup",
        source="scheduler",
    )
    assert out.status == "succeeded" and cluster.list(CORE, "namespaces") == []
    assert sandboxes(app)[0].status == "active"  # the crash: nothing recorded
    assert fire(app, clock.now) == "done"
    assert fire(app, clock.now + timedelta(minutes=5)) == "done"
    (sb,) = sandboxes(app)
    assert sb.status == "cleaned" and sb.cleanup_run_id == (out.run.id if out.run else None)
    deletes = [r for r in cluster.requests if r.method == "DELETE" and not r.query]
    assert len(deletes) == 1
    texts = await thread_texts(local, root)
    assert sum("expired and was deleted" in t for t in texts) == 1


def write_policy_without_auto_cleanup(folder: Path) -> None:
    shutil.copy(POLICIES / "approvals.yaml", folder / "approvals.yaml")
    automation = yaml.safe_load((POLICIES / "automation.yaml").read_text())
    automation["rules"] = [
        r for r in automation["rules"] if r["match"].get("runbook") != "partner-sandbox-cleanup"
    ]
    (folder / "automation.yaml").write_text(yaml.safe_dump(automation))


async def test_cleanup_waits_for_a_human_when_the_policy_says_so(
    local: Local, cluster: FakeCluster, tmp_path: Path
) -> None:
    """With the auto rule removed from the automation policy, the expired sandbox's cleanup
    shows an approval request in the offer's thread and deletes only after approval."""
    from handlers.runbooks import SERVICE_KEY, service_for
    from policies.engine import load_policy

    app, _, clock = local
    write_policy_without_auto_cleanup(tmp_path)
    svc = service_for(app.runtime)
    app.runtime.services.extra[SERVICE_KEY] = type(svc)(
        engine=svc.engine,
        catalog=svc.catalog,
        policy=load_policy(tmp_path),
        kube=svc.kube,
        clock=clock,
    )
    _, root = await active_sandbox(local, "Delta Data")
    clock.now = T0 + timedelta(days=1, minutes=1)
    assert fire(app, clock.now) == "done"
    assert fire(app, clock.now + timedelta(minutes=5)) == "done"
    assert cluster.list(CORE, "namespaces") != []
    assert sandboxes(app)[0].status == "expired"
    asks = [
        m
        for m in await bot(local)
        if m["thread"] == root and "partner-sandbox-cleanup" in m["text"]
    ]
    assert len(asks) == 1 and "waiting for approval" in asks[0]["text"]
    await click(local, "bob", asks[0], "runbook:approve")
    assert cluster.list(CORE, "namespaces") == []
    assert fire(app, clock.now + timedelta(minutes=10)) == "done"
    assert sandboxes(app)[0].status == "cleaned"
    assert sum("expired and was deleted" in t for t in await thread_texts(local, root)) == 1
