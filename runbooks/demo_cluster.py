"""`make demo` without a cluster: an emulated Kubernetes API, in-process, with sample workloads.

The bot talks to it through the real `kubernetes` client and a generated kubeconfig; every
runbook message says it is a demo cluster (`KubeClient.demo`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from bot.clients.kubernetes import KubeClient
from runbooks.emulator import FakeCluster, FakeKubeServer

CORE = "/api/v1"


def seed(cluster: FakeCluster) -> None:
    """Sample workloads: shop (cart, checkout, frontend), edge (gateway), payments (api)."""
    for ns in ("shop", "edge", "payments", "kube-system"):
        cluster.add(CORE, "namespaces", {"metadata": {"name": ns}})
    cluster.deployment("shop", "cart", image="registry.example/shop/cart:1.4.0", replicas=3)
    cluster.roll_out("shop", "cart", "registry.example/shop/cart:1.5.0")  # something to roll back
    cluster.deployment("shop", "checkout", image="registry.example/shop/checkout:2.0.1", replicas=2)
    cluster.deployment("shop", "frontend", image="registry.example/shop/frontend:3.2.0", replicas=4)
    cluster.deployment("edge", "gateway", image="registry.example/edge/gateway:7.1", replicas=4)
    cluster.deployment("payments", "api", image="registry.example/payments/api:5.0.3", replicas=3)
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
