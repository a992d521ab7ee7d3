"""A Kubernetes emulator seeded with workloads that break each guardrail once."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bot.clients.kubernetes import KubeClient
from tests.fakes.kubernetes import FakeCluster, FakeKubeServer

APPS = "/apis/apps/v1"
PLURAL = {"Deployment": "deployments", "StatefulSet": "statefulsets", "DaemonSet": "daemonsets"}
LIMITS = {"limits": {"cpu": "500m", "memory": "256Mi"}}


def workload(
    cluster: FakeCluster,
    kind: str,
    ns: str,
    name: str,
    *,
    cls: str | None = "internal",
    image: str | None = None,
    resources: dict[str, Any] | None = None,
    privileged: bool = False,
    env: list[dict[str, Any]] | None = None,
    node_selector: dict[str, str] | None = None,
    affinity: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Add a workload whose pod template follows every guardrail unless told otherwise."""
    labels = {"app": name}
    if cls is not None:
        labels["data-classification"] = cls
    container: dict[str, Any] = {
        "name": name,
        "image": image or f"registry.example/{ns}/{name}:1.0",
        "resources": LIMITS if resources is None else resources,
    }
    if privileged:
        container["securityContext"] = {"privileged": True}
    if env:
        container["env"] = env
    pod_spec: dict[str, Any] = {"containers": [container]}
    if node_selector:
        pod_spec["nodeSelector"] = node_selector
    if affinity:
        pod_spec["affinity"] = affinity
    return cluster.add(
        APPS,
        PLURAL[kind],
        {
            "metadata": {"name": name, "namespace": ns, "labels": dict(labels)},
            "spec": {
                "selector": {"matchLabels": {"app": name}},
                "template": {"metadata": {"labels": dict(labels)}, "spec": pod_spec},
            },
        },
    )


def region_affinity(*terms: list[str]) -> dict[str, Any]:
    """A required node affinity; each term allows the given regions."""
    return {
        "nodeAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": {
                "nodeSelectorTerms": [
                    {
                        "matchExpressions": [
                            {"key": "topology.kubernetes.io/region", "operator": "In", "values": t}
                        ]
                    }
                    for t in terms
                ]
            }
        }
    }


REGION = "topology.kubernetes.io/region"


def seed_guardrails(cluster: FakeCluster) -> None:
    """One compliant workload per kind, and one workload per broken rule."""
    workload(cluster, "Deployment", "shop", "good")
    workload(cluster, "StatefulSet", "shop", "good-db")
    workload(cluster, "DaemonSet", "ops", "good-agent")
    workload(cluster, "Deployment", "shop", "unlabeled", cls=None)
    workload(cluster, "Deployment", "shop", "odd-class", cls="top-secret")
    workload(cluster, "Deployment", "crm", "pd-unpinned", cls="personal")
    workload(
        cluster, "Deployment", "crm", "pd-ok", cls="personal", node_selector={REGION: "eu-west-1"}
    )
    workload(
        cluster,
        "StatefulSet",
        "crm",
        "pd-affinity-ok",
        cls="personal",
        affinity=region_affinity(["eu-west-1"], ["eu-central-1"]),
    )
    workload(
        cluster,
        "StatefulSet",
        "crm",
        "pd-us",
        cls="personal",
        affinity=region_affinity(["eu-west-1", "us-east-1"]),
    )
    workload(
        cluster,
        "Deployment",
        "crm",
        "spd-wrong",
        cls="sensitive-personal",
        node_selector={REGION: "eu-west-1"},
    )
    workload(cluster, "Deployment", "web", "dockerhub", image="nginx:1.27")
    workload(cluster, "Deployment", "web", "no-limits", resources={"limits": {"cpu": "1"}})
    workload(cluster, "DaemonSet", "ops", "root-agent", privileged=True)
    workload(
        cluster,
        "DaemonSet",
        "ops",
        "leaky",
        env=[
            {"name": "DB_PASSWORD", "value": "hunter2hunter2"},
            {"name": "DATABASE_URL", "value": "postgres://app:s3cr3tpw@db:5432/app"},
            {"name": "API_TOKEN", "valueFrom": {"secretKeyRef": {"name": "t", "key": "token"}}},
            {"name": "LOG_LEVEL", "value": "debug"},
        ],
    )
    workload(cluster, "DaemonSet", "kube-system", "exempt", cls=None, privileged=True)


@pytest.fixture
def gr_cluster() -> FakeCluster:
    cluster = FakeCluster()
    seed_guardrails(cluster)
    return cluster


@pytest.fixture
def gr_kube(gr_cluster: FakeCluster, tmp_path: Path) -> Iterator[KubeClient]:
    server = FakeKubeServer(gr_cluster).start()
    client = KubeClient.from_kubeconfig(server.write_kubeconfig(tmp_path / "kubeconfig"))
    yield client
    client.close()
    server.stop()
