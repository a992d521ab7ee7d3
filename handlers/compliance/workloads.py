"""Read Deployments, StatefulSets and DaemonSets (with their pod templates) from Kubernetes."""

from __future__ import annotations

from typing import Any

from bot.clients.kubernetes import KubeClient, KubeError
from policies.guardrails import Workload

# kind -> (all namespaces, one namespace) method names of AppsV1Api
_LISTS = {
    "Deployment": ("list_deployment_for_all_namespaces", "list_namespaced_deployment"),
    "StatefulSet": ("list_stateful_set_for_all_namespaces", "list_namespaced_stateful_set"),
    "DaemonSet": ("list_daemon_set_for_all_namespaces", "list_namespaced_daemon_set"),
}


def list_workloads(kube: KubeClient, namespace: str | None = None) -> list[Workload]:
    """Every workload of the cluster (or of one namespace); raises KubeError."""
    out: list[Workload] = []
    for kind, (every, one) in _LISTS.items():
        fn: Any = getattr(kube.apps, one if namespace else every)
        args = (namespace,) if namespace else ()
        try:
            items = kube.raw(fn, *args).get("items") or []
        except KubeError as exc:
            if exc.kind == "not_found":  # an API server without this resource
                continue
            raise
        out.extend(Workload.from_object(kind, obj) for obj in items)
    return sorted(out, key=lambda w: (w.namespace, w.kind, w.name))
