"""Several bot processes on one database: approvals execute once; a killed executor leaves an
interrupted run that is never re-run silently."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine

from bot.clients.kubernetes import KubeClient
from policies.engine import load_policy
from runbooks.catalog import CATALOG, load_catalog
from runbooks.service import Requester, RunbookService
from tests.fakes.kubernetes import FakeCluster, FakeKubeServer

ROOT = Path(__file__).resolve().parents[2]
ALICE = Requester("alice", "local", "Alice", "C1")

SLOW = """\
name: slow-restart
title: Restart, then wait
description: Restart a deployment and wait a long time (to be killed in the middle).
risk: low
scope:
  environment: production
  namespace: "{{ namespace }}"
parameters:
  - {name: namespace, type: string, required: true}
  - {name: deployment, type: string, required: true}
steps:
  - kind: rollout_restart
    with: {namespace: "{{ namespace }}", deployment: "{{ deployment }}"}
  - kind: wait
    with: {duration: 10m}
  - kind: notify
    with: {message: done}
"""


def _spawn(
    db_url: str, kubeconfig: Path, catalog: str, run_id: int, executor: str, mode: str
) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.runbooks.worker",
            db_url,
            str(kubeconfig),
            catalog,
            str(run_id),
            executor,
            mode,
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )


def _url(engine: Engine) -> str:
    return engine.url.render_as_string(hide_password=False)


def test_approve_from_several_processes_executes_once(
    engine: Engine,
    kube: KubeClient,
    cluster: FakeCluster,
    kube_server: FakeKubeServer,
    tmp_path: Path,
) -> None:
    svc = RunbookService(engine=engine, catalog=load_catalog(), policy=load_policy(), kube=kube)
    out = svc.request_run(
        runbook="scale-deployment",
        requester=ALICE,
        params={"namespace": "shop", "deployment": "cart", "replicas": "8"},
    )
    assert out.run is not None
    kc = tmp_path / "kc"
    kube_server.write_kubeconfig(kc)
    users = ["bob", "bob", "carol"]
    procs = [
        _spawn(_url(engine), kc, "-", out.run.id, f"p{i}", f"approve:{u}")
        for i, u in enumerate(users)
    ]
    results = [p.communicate(timeout=120) for p in procs]
    assert all(p.returncode == 0 for p in procs), [r[1][-2000:] for r in results]
    firsts = [r[0].split()[0] for r in results]
    assert firsts.count("approved") == 1, firsts
    patches = [r for r in cluster.requests if r.method == "PATCH" and "dryRun" not in r.query]
    assert len(patches) == 1
    assert cluster.get("/apis/apps/v1", "deployments", "shop", "cart")["spec"]["replicas"] == 8


def test_killed_executor_leaves_an_interrupted_run(
    engine: Engine,
    kube: KubeClient,
    cluster: FakeCluster,
    kube_server: FakeKubeServer,
    tmp_path: Path,
) -> None:
    catalog = tmp_path / "catalog"
    shutil.copytree(CATALOG, catalog)
    (catalog / "slow-restart.yaml").write_text(SLOW)
    svc = RunbookService(
        engine=engine,
        catalog=load_catalog(catalog),
        policy=load_policy(),
        kube=kube,
        executor_id="survivor",
    )
    out = svc.request_run(
        runbook="slow-restart", requester=ALICE, params={"namespace": "shop", "deployment": "cart"}
    )
    assert out.status == "pending", out.message
    run_id = out.run.id  # type: ignore[union-attr]
    assert svc.approve(run_id, actor="bob", platform="local").status == "approved"
    kc = tmp_path / "kc"
    kube_server.write_kubeconfig(kc)
    proc = _spawn(_url(engine), kc, str(catalog), run_id, "doomed", "execute")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        view = svc.status(run_id)
        if view and view.steps[1].state == "running":
            break
        time.sleep(0.05)
    else:  # pragma: no cover
        proc.kill()
        pytest.fail("the worker never reached the wait step: " + proc.communicate()[1][-2000:])
    proc.send_signal(signal.SIGKILL)
    proc.wait(30)
    # A live replica only takes over once the dead executor's heartbeat is stale.
    assert svc.mark_interrupted_on_startup() == []
    assert svc.mark_interrupted_on_startup(stale_after=timedelta(0)) == [run_id]
    view = svc.status(run_id)
    assert view and view.state == "interrupted"
    assert [s.state for s in view.steps] == ["succeeded", "interrupted", "pending"]
    assert svc.execute(run_id).state == "interrupted"
    # A human resumes after the wait: the restart is not repeated.
    assert svc.resume(run_id, actor="bob", platform="local", from_step=2).status == "approved"
    assert svc.execute(run_id).state == "succeeded"
    patches = [r for r in cluster.requests if r.method == "PATCH" and "dryRun" not in r.query]
    assert len(patches) == 1
