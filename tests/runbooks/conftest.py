"""A fake Kubernetes API server that the real `kubernetes` client talks to."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.clients.kubernetes import KubeClient
from tests.fakes.kubernetes import FakeCluster, FakeKubeServer


def seed(cluster: FakeCluster) -> None:
    """A small cluster: shop/cart, shop/checkout, edge/gateway, flags, two nodes with pods."""
    cluster.deployment("shop", "cart", image="reg/cart:1.4.0", replicas=3)
    cluster.deployment("shop", "checkout", image="registry.example/checkout:2.0.1", replicas=2)
    cluster.deployment("edge", "gateway", image="registry.example/gateway:7.1", replicas=4)
    cluster.add(
        "/api/v1",
        "configmaps",
        {
            "metadata": {"name": "feature-flags", "namespace": "shop"},
            "data": {"new_checkout": "false", "dark_mode": "true"},
        },
    )
    cluster.add(
        "/api/v1",
        "configmaps",
        {
            "metadata": {"name": "rate-limits", "namespace": "edge"},
            "data": {"requests_per_second": "500", "mode": "normal"},
        },
    )
    for node in ("node-a", "node-b"):
        cluster.add("/api/v1", "nodes", {"metadata": {"name": node}, "spec": {}})
    cluster.add(
        "/api/v1",
        "pods",
        {"metadata": {"name": "cart-1", "namespace": "shop"}, "spec": {"nodeName": "node-a"}},
    )
    cluster.add(
        "/api/v1",
        "pods",
        {"metadata": {"name": "checkout-1", "namespace": "shop"}, "spec": {"nodeName": "node-a"}},
    )
    cluster.add(
        "/api/v1",
        "pods",
        {
            "metadata": {
                "name": "node-exporter-x",
                "namespace": "monitoring",
                "ownerReferences": [
                    {
                        "kind": "DaemonSet",
                        "name": "node-exporter",
                        "uid": "ds1",
                        "apiVersion": "apps/v1",
                    }
                ],
            },
            "spec": {"nodeName": "node-a"},
        },
    )
    cluster.add(
        "/api/v1",
        "pods",
        {"metadata": {"name": "cart-2", "namespace": "shop"}, "spec": {"nodeName": "node-b"}},
    )


@pytest.fixture
def kube_server() -> Iterator[FakeKubeServer]:
    server = FakeKubeServer().start()
    seed(server.cluster)
    yield server
    server.stop()


@pytest.fixture
def cluster(kube_server: FakeKubeServer) -> FakeCluster:
    return kube_server.cluster


@pytest.fixture
def kube(kube_server: FakeKubeServer, tmp_path: Path) -> Iterator[KubeClient]:
    client = KubeClient.from_kubeconfig(
        kube_server.write_kubeconfig(tmp_path / "kubeconfig"), timeout=2.0
    )
    yield client
    client.close()
