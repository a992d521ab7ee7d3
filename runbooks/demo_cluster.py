"""`make demo` without a cluster: an emulated Kubernetes API, in-process, with sample workloads.

The bot talks to it through the real `kubernetes` client and a generated kubeconfig; every
runbook message says it is a demo cluster (`KubeClient.demo`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bot.clients.kubernetes import KubeClient
from runbooks.emulator import FakeCluster, FakeKubeServer

CORE = "/api/v1"


def seed(cluster: FakeCluster) -> None:
    """Sample workloads: shop (cart, checkout, frontend), edge (gateway), payments (api,
    ledger), monitoring (node-exporter); some break guardrails for /compliance scan."""
    for ns in ("shop", "edge", "payments", "monitoring", "kube-system"):
        cluster.add(CORE, "namespaces", {"metadata": {"name": ns}})
    cluster.deployment("shop", "cart", image="registry.example/shop/cart:1.4.0", replicas=3)
    cluster.roll_out("shop", "cart", "registry.example/shop/cart:1.5.0")  # something to roll back
    _workload(cluster, "shop", "checkout", "registry.example/shop/checkout:2.0.1", 2, "internal")
    _workload(cluster, "shop", "frontend", "registry.example/shop/frontend:3.2.0", 4, "public")
    _workload(cluster, "edge", "gateway", "registry.example/edge/gateway:7.1", 4, "public")
    # personal data without a region pin, and a plain-text secret: guardrail findings to fix
    _workload(
        cluster,
        "payments",
        "api",
        "registry.example/payments/api:5.0.3",
        3,
        "personal",
        env=[{"name": "DB_PASSWORD", "value": "demo-password-123"}],
    )
    _workload(
        cluster,
        "payments",
        "ledger",
        "registry.example/payments/ledger:1.2.0",
        1,
        "personal",
        kind="statefulsets",
        nodeSelector={"topology.kubernetes.io/region": "eu-central-1"},
    )
    _workload(
        cluster,
        "monitoring",
        "node-exporter",
        "quay.io/prometheus/node-exporter:v1.8.0",
        0,
        "internal",
        kind="daemonsets",
        privileged=True,
    )
    cluster.deployment(
        "kube-system", "coredns", image="registry.k8s.io/coredns:v1.11.1", replicas=2
    )
    cluster.add(
        CORE,
        "configmaps",
        {
            "metadata": {"name": "feature-flags", "namespace": "shop"},
            "data": {"new_checkout": "false", "recommendations": "true", "dark_mode": "false"},
        },
    )
    cluster.add(
        CORE,
        "configmaps",
        {
            "metadata": {"name": "rate-limits", "namespace": "edge"},
            "data": {"requests_per_second": "500", "mode": "normal"},
        },
    )
    pods = {
        "node-1": ["shop/cart-7d9f-a", "shop/checkout-5c4b-a", "edge/gateway-66f1-a"],
        "node-2": ["shop/cart-7d9f-b", "payments/api-9a2e-a", "edge/gateway-66f1-b"],
        "node-3": ["shop/frontend-41aa-a", "payments/api-9a2e-b"],
    }
    for node, names in pods.items():
        cluster.add(
            CORE, "nodes", {"metadata": {"name": node, "labels": {"pool": "general"}}, "spec": {}}
        )
        for full in names:
            ns, name = full.split("/")
            cluster.add(
                CORE,
                "pods",
                {
                    "metadata": {"name": name, "namespace": ns},
                    "spec": {"nodeName": node},
                    "status": {"phase": "Running"},
                },
            )
        cluster.add(
            CORE,
            "pods",
            {
                "metadata": {
                    "name": f"node-exporter-{node}",
                    "namespace": "kube-system",
                    "ownerReferences": [
                        {
                            "apiVersion": "apps/v1",
                            "kind": "DaemonSet",
                            "name": "node-exporter",
                            "uid": "ds-node-exporter",
                        }
                    ],
                },
                "spec": {"nodeName": node},
                "status": {"phase": "Running"},
            },
        )


def _workload(
    cluster: FakeCluster,
    ns: str,
    name: str,
    image: str,
    replicas: int,
    cls: str,
    *,
    kind: str = "deployments",
    env: list[dict[str, Any]] | None = None,
    privileged: bool = False,
    **pod: Any,
) -> None:
    """A workload with a data classification and resource limits (guardrail-ready)."""
    labels = {"app": name, "data-classification": cls}
    container: dict[str, Any] = {
        "name": name,
        "image": image,
        "resources": {"limits": {"cpu": "1", "memory": "512Mi"}},
    }
    if env:
        container["env"] = env
    if privileged:
        container["securityContext"] = {"privileged": True}
    spec: dict[str, Any] = {
        "selector": {"matchLabels": {"app": name}},
        "template": {
            "metadata": {"labels": dict(labels)},
            "spec": {"containers": [container], **pod},
        },
    }
    if kind != "daemonsets":
        spec["replicas"] = replicas
    cluster.add(
        "/apis/apps/v1",
        kind,
        {"metadata": {"name": name, "namespace": ns, "labels": labels}, "spec": spec},
    )


@dataclass
class DemoCluster:
    server: FakeKubeServer
    kubeconfig: Path
    client: KubeClient

    def stop(self) -> None:
        self.client.close()
        self.server.stop()


def start_demo_cluster(workdir: Path) -> DemoCluster:
    """Start the emulated cluster on a free port; write `workdir/demo-kubeconfig`."""
    workdir.mkdir(parents=True, exist_ok=True)
    server = FakeKubeServer().start()
    seed(server.cluster)
    kubeconfig = server.write_kubeconfig(workdir / "demo-kubeconfig", namespace="shop")
    client = KubeClient.from_kubeconfig(kubeconfig, demo=True)
    return DemoCluster(server=server, kubeconfig=kubeconfig, client=client)
