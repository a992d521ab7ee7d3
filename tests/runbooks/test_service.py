from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.engine import Engine

from bot.clients.kubernetes import KubeClient
from policies.engine import load_policy
from runbooks.catalog import load_catalog
from runbooks.service import Requester, RunbookService
from storage import audit
from storage.db import unit_of_work
from tests.fakes.kubernetes import FakeCluster

MONDAY = datetime(2026, 11, 30, 10, 0, tzinfo=UTC)
ALICE = Requester("alice", "local", "Alice", "C1")
APPS = "/apis/apps/v1"


def make_service(engine: Engine, kube: KubeClient | None, **kw: object) -> RunbookService:
    return RunbookService(
        engine=engine,
        catalog=load_catalog(),
        policy=load_policy(),
        kube=kube,
        clock=lambda: MONDAY,
        **kw,
    )  # type: ignore[arg-type]


def real_patches(cluster: FakeCluster) -> list:
    return [r for r in cluster.requests if r.method == "PATCH" and "dryRun" not in r.query]


def test_restart_needs_another_person_then_runs_once(
    engine: Engine, kube: KubeClient, cluster: FakeCluster
) -> None:
    svc = make_service(engine, kube)
    out = svc.request_run(
        runbook="restart-deployment",
        params={"namespace": "shop", "deployment": "cart"},
        requester=ALICE,
    )
    assert out.status == "pending", out.message
    assert out.run is not None and out.run.state == "pending_approval"
    assert any("restartedAt" in c for c in out.run.plan)
    assert real_patches(cluster) == []
    run_id = out.run.id

    refused = svc.approve(run_id, actor="alice", platform="local")
    assert refused.status == "refused" and "another approver" in refused.message

    ok = svc.approve(run_id, actor="bob", platform="local", actor_name="Bob")
    assert ok.status == "approved"
    seen: list[str] = []
    view = svc.execute(run_id, progress=lambda v: seen.append(v.state))
    assert view.state == "succeeded"
    assert [s.state for s in view.steps] == ["succeeded", "succeeded"]
    assert view.messages == ("Deployment shop/cart is restarting.",)
    assert "running" in seen and seen[-1] == "succeeded"
    ann = cluster.get(APPS, "deployments", "shop", "cart")["spec"]["template"]["metadata"]
    assert "kubectl.kubernetes.io/restartedAt" in ann["annotations"]
    # Executing again (a retry, another replica) does nothing.
    assert svc.execute(run_id).state == "succeeded"
    assert len(real_patches(cluster)) == 1
    with unit_of_work(engine) as s:
        assert audit.verify(s).ok
        actions = [e.action for e in s.exec(__import__("sqlmodel").select(audit.AuditEntry)).all()]
    assert actions[:3] == ["runbook.requested", "runbook.approval_refused", "runbook.approved"]
    assert "runbook.succeeded" in actions


def test_dry_run_only_and_invalid_requests(
    engine: Engine, kube: KubeClient, cluster: FakeCluster
) -> None:
    svc = make_service(engine, kube)
    out = svc.request_run(
        runbook="scale-deployment",
        requester=ALICE,
        dry_run_only=True,
        params={"namespace": "shop", "deployment": "cart", "replicas": "5"},
    )
    assert out.status == "dry_run" and out.plan is not None
    assert out.plan.changes == ["deployment shop/cart: replicas 3 → 5"]
    assert cluster.get(APPS, "deployments", "shop", "cart")["spec"]["replicas"] == 3
    bad = svc.request_run(
        runbook="scale-deployment",
        requester=ALICE,
        params={"namespace": "shop", "deployment": "cart", "replicas": "500"},
    )
    assert bad.status == "invalid" and bad.message == "replicas must be at most 50, got 500"
    missing = svc.request_run(
        runbook="scale-deployment",
        requester=ALICE,
        params={"namespace": "shop", "deployment": "basket", "replicas": "2"},
    )
    assert (
        missing.status == "invalid" and "deployment shop/basket does not exist" in missing.message
    )
    assert svc.request_run(runbook="nope", params={}, requester=ALICE).status == "unknown_runbook"


def test_policy_levels(engine: Engine, kube: KubeClient, cluster: FakeCluster) -> None:
    svc = make_service(engine, kube)
    auto = svc.request_run(
        runbook="toggle-feature-flag",
        requester=ALICE,
        params={
            "namespace": "shop",
            "flag": "new_checkout",
            "enabled": "true",
            "environment": "staging",
        },
    )
    assert auto.status == "succeeded", auto.message
    assert (
        cluster.get("/api/v1", "configmaps", "shop", "feature-flags")["data"]["new_checkout"]
        == "true"
    )
    ro = svc.request_run(
        runbook="restart-deployment",
        requester=ALICE,
        params={"namespace": "kube-system", "deployment": "coredns"},
    )
    # The dry run fails first (no such deployment in the fake) - use an existing one instead:
    assert ro.status in ("invalid", "refused")
    cluster.deployment("kube-system", "coredns", image="coredns:1")
    ro = svc.request_run(
        runbook="restart-deployment",
        requester=ALICE,
        params={"namespace": "kube-system", "deployment": "coredns"},
    )
    assert ro.status == "refused" and "read-only" in ro.message


def test_request_key_makes_a_retried_command_harmless(engine: Engine, kube: KubeClient) -> None:
    svc = make_service(engine, kube)
    params = {"namespace": "shop", "deployment": "cart"}
    a = svc.request_run(
        runbook="restart-deployment", params=params, requester=ALICE, request_key="ev1"
    )
    b = svc.request_run(
        runbook="restart-deployment", params=params, requester=ALICE, request_key="ev1"
    )
    assert a.status == "pending" and b.status == "duplicate"
    assert a.run and b.run and a.run.id == b.run.id


def test_reject_cancel_expire(engine: Engine, kube: KubeClient) -> None:
    svc = make_service(engine, kube)
    params = {"namespace": "shop", "deployment": "cart"}
    r1 = svc.request_run(runbook="restart-deployment", params=params, requester=ALICE).run
    r2 = svc.request_run(runbook="restart-deployment", params=params, requester=ALICE).run
    r3 = svc.request_run(runbook="restart-deployment", params=params, requester=ALICE).run
    assert r1 and r2 and r3
    assert svc.reject(r1.id, actor="bob", platform="local", reason="not now").status == "rejected"
    assert svc.approve(r1.id, actor="carol", platform="local").status == "not_pending"
    assert svc.cancel(r2.id, actor="alice", platform="local").status == "cancelled"
    assert svc.cancel(r2.id, actor="alice", platform="local").status == "not_cancellable"
    assert svc.expire_due(MONDAY + timedelta(hours=1)) == []
    assert svc.expire_due(MONDAY + timedelta(hours=3)) == [r3.id]
    assert svc.approve(r3.id, actor="bob", platform="local").status == "not_pending"
    assert svc.status(r3.id).state == "expired"  # type: ignore[union-attr]


def test_failed_step_then_resume(engine: Engine, kube: KubeClient, cluster: FakeCluster) -> None:
    svc = make_service(engine, kube)
    out = svc.request_run(runbook="ddos-mitigation", requester=ALICE, params={}, dry_run_only=True)
    assert out.status == "invalid" and "No Prometheus is configured" in out.message

    class Prom:
        def query(self, promql: str) -> list[tuple[dict[str, str], float]]:
            assert 'namespace="edge"' in promql
            return [({}, 2500.0)]

    svc = make_service(engine, kube, prometheus=Prom())
    out = svc.request_run(runbook="ddos-mitigation", requester=ALICE, params={})
    assert out.status == "pending", out.message
    assert out.plan and out.plan.changes == [
        "deployment edge/gateway: replicas 4 → 10",
        "configmap edge/rate-limits: key mode normal → strict",
        "configmap edge/rate-limits: key requests_per_second 500 → 50",
    ]
    run_id = out.run.id  # type: ignore[union-attr]
    assert svc.approve(run_id, actor="bob", platform="local").status == "recorded"
    assert svc.approve(run_id, actor="carol", platform="local").status == "approved"
    cluster.fail("PATCH", "/configmaps/rate-limits", 403, reason="Forbidden", message="no RBAC")
    view = svc.execute(run_id)
    assert view.state == "failed"
    assert [s.state for s in view.steps] == ["succeeded", "succeeded", "failed", "pending"]
    assert "403 Forbidden" in (view.steps[2].error or "")
    assert svc.resume(run_id, actor="bob", platform="local").status == "approved"
    view = svc.execute(run_id)
    assert view.state == "succeeded"
    assert [s.attempt for s in view.steps] == [1, 1, 2, 1]
    assert cluster.get(APPS, "deployments", "edge", "gateway")["spec"]["replicas"] == 10
    # the scale step ran exactly once
    assert len([r for r in real_patches(cluster) if "/deployments/gateway" in r.path]) == 1


def test_crash_mid_run_becomes_interrupted(
    engine: Engine, kube: KubeClient, cluster: FakeCluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    from runbooks import steps as step_kinds
    from runbooks.steps.base import StepKind

    def crash(_ctx: object, _args: object) -> None:
        raise SystemExit("killed")

    svc = make_service(engine, kube, executor_id="replica-1")
    out = svc.request_run(
        runbook="restart-deployment",
        requester=ALICE,
        params={"namespace": "shop", "deployment": "cart"},
    )
    run_id = out.run.id  # type: ignore[union-attr]
    svc.approve(run_id, actor="bob", platform="local")
    monkeypatch.setitem(step_kinds.KINDS, "notify", StepKind("notify", crash, (), False))  # type: ignore[arg-type]
    with pytest.raises(SystemExit):
        svc.execute(run_id)
    monkeypatch.undo()
    assert svc.status(run_id).state == "running"  # type: ignore[union-attr]
    # Another replica that is alive does not steal it; this replica after restart does.
    other = make_service(engine, kube, executor_id="replica-2")
    assert other.mark_interrupted_on_startup() == []
    assert svc.mark_interrupted_on_startup() == [run_id]
    view = svc.status(run_id)
    assert view and view.state == "interrupted"
    assert [s.state for s in view.steps] == ["succeeded", "interrupted"]
    assert svc.execute(run_id).state == "interrupted"  # never re-run silently
    assert svc.resume(run_id, actor="bob", platform="local").status == "approved"
    assert svc.execute(run_id).state == "succeeded"
    assert len(real_patches(cluster)) == 1  # the restart was not repeated


def test_concurrent_approvals_execute_once(
    engine: Engine, kube: KubeClient, cluster: FakeCluster
) -> None:
    svc = make_service(engine, kube)
    out = svc.request_run(
        runbook="scale-deployment",
        requester=ALICE,
        params={"namespace": "shop", "deployment": "cart", "replicas": "6"},
    )
    run_id = out.run.id  # type: ignore[union-attr]
    barrier = threading.Barrier(8)
    statuses: list[str] = []
    finals: list[str] = []

    def click(user: str) -> None:
        replica = make_service(engine, kube, executor_id=f"replica-{user}")
        barrier.wait()
        res = replica.approve(run_id, actor=user, platform="local")
        statuses.append(res.status)
        finals.append(replica.execute(run_id).state)

    users = ["bob", "bob", "carol", "carol", "dave", "erin", "frank", "bob"]  # double clicks too
    threads = [threading.Thread(target=click, args=(u,)) for u in users]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert statuses.count("approved") == 1
    assert len(real_patches(cluster)) == 1
    view = svc.status(run_id)
    assert view and view.state == "succeeded" and len(view.approvals) == 1
    assert [s.attempt for s in view.steps] == [1]


def test_messages_follow_the_locale(engine: Engine, kube: KubeClient) -> None:
    from bot.i18n import Translator

    ru = Translator("ru").t
    svc = make_service(engine, kube)
    bad = svc.request_run(
        runbook="scale-deployment",
        requester=ALICE,
        t=ru,
        params={"namespace": "shop", "deployment": "basket", "replicas": "99"},
    )
    assert bad.message == "replicas должен быть не больше 50, получено 99"
    out = svc.request_run(
        runbook="restart-deployment",
        requester=ALICE,
        t=ru,
        params={"namespace": "shop", "deployment": "cart"},
    )
    assert out.run is not None
    refused = svc.approve(out.run.id, actor="alice", platform="local", t=ru)
    assert refused.message == "Вы запросили этот запуск; одобрить его должен другой человек"


def test_long_wait_keeps_the_heartbeat_and_stops_on_cancel(
    engine: Engine, kube: KubeClient, tmp_path: object
) -> None:
    import shutil
    from pathlib import Path

    from runbooks.catalog import CATALOG

    catalog = Path(str(tmp_path)) / "catalog"
    shutil.copytree(CATALOG, catalog)
    (catalog / "pause.yaml").write_text(
        "name: pause\ntitle: Pause\ndescription: Waits.\nrisk: low\n"
        "scope: {environment: production}\n"
        "steps:\n  - kind: wait\n    with: {duration: 5m}\n"
        "  - kind: notify\n    with: {message: x}\n"
    )
    beats: list[float] = []
    holder: dict[str, RunbookService] = {}

    def fake_sleep(seconds: float) -> None:
        beats.append(seconds)
        if len(beats) == 3:  # someone cancels during the wait
            holder["svc"].cancel(run_id, actor="bob", platform="local")

    svc = RunbookService(
        engine=engine,
        catalog=load_catalog(catalog),
        policy=load_policy(),
        kube=kube,
        clock=lambda: MONDAY,
        sleep=fake_sleep,
    )
    holder["svc"] = svc
    run_id = svc.request_run(runbook="pause", params={}, requester=ALICE).run.id  # type: ignore[union-attr]
    svc.approve(run_id, actor="bob", platform="local")
    view = svc.execute(run_id)
    assert beats == [30.0, 30.0, 30.0]
    assert view.state == "cancelled"
    assert view.steps[0].state == "failed" and "cancelled" in (view.steps[0].error or "")
    assert view.steps[1].state == "pending"
