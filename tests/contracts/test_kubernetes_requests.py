"""The requests the runbook steps send match the Kubernetes OpenAPI (release-1.35) contract."""

from __future__ import annotations

import json
import re
from pathlib import Path

from bot.clients.kubernetes import KubeClient
from runbooks.steps import KINDS, StepContext
from tests.fakes.kubernetes import FakeCluster

HERE = Path(__file__).parent / "kubernetes"


def _spec_paths() -> dict[str, dict]:
    paths: dict[str, dict] = {}
    for name in ("api__v1_openapi.json", "apis__apps__v1_openapi.json"):
        paths.update(json.loads((HERE / name).read_text())["paths"])
    return paths


def _template(paths: dict[str, dict], path: str) -> str | None:
    for tpl in paths:
        pattern = "^" + re.sub(r"\\{[^}]+\\}", "[^/]+", re.escape(tpl)) + "$"
        if re.match(pattern, path):
            return tpl
    return None


def test_every_request_is_in_the_openapi_contract(kube: KubeClient, cluster: FakeCluster) -> None:
    ctx = StepContext(kube=kube)
    KINDS["set_image"].run(ctx, {"namespace": "shop", "deployment": "cart", "image": "c:2"})
    for kind, args in [
        ("scale", {"namespace": "shop", "deployment": "cart", "replicas": 4}),
        ("rollout_restart", {"namespace": "shop", "deployment": "cart"}),
        ("rollback", {"namespace": "shop", "deployment": "cart"}),
        (
            "patch_configmap",
            {"namespace": "shop", "configmap": "feature-flags", "data": {"a": "1"}},
        ),
        ("cordon", {"node": "node-b"}),
        ("drain", {"node": "node-a"}),
        (
            "create_objects",
            {
                "objects": [
                    {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "p-x"}},
                    {
                        "apiVersion": "v1",
                        "kind": "ResourceQuota",
                        "metadata": {"name": "q", "namespace": "p-x"},
                        "spec": {"hard": {"pods": "5"}},
                    },
                    {
                        "apiVersion": "v1",
                        "kind": "LimitRange",
                        "metadata": {"name": "l", "namespace": "p-x"},
                        "spec": {"limits": []},
                    },
                ]
            },
        ),
        (
            "delete_namespace",
            {"namespace": "p-x", "require_labels": {"copilot.example/sandbox": "true"}},
        ),
    ]:
        if kind == "delete_namespace":  # only a labeled sandbox namespace may be deleted
            ns = cluster.get("/api/v1", "namespaces", "", "p-x")
            ns["metadata"]["labels"] = {"copilot.example/sandbox": "true"}
        KINDS[kind].run(ctx, args)
    paths = _spec_paths()
    seen = set()
    for req in cluster.requests:
        tpl = _template(paths, req.path)
        assert tpl is not None, f"{req.method} {req.path} is not in the API"
        op = paths[tpl].get(req.method.lower())
        assert op is not None, f"{req.method} not allowed on {tpl}"
        allowed = {p["name"] for p in op.get("parameters", []) if "name" in p}
        allowed |= {p["name"] for p in paths[tpl].get("parameters", []) if "name" in p}
        assert set(req.query) <= allowed, f"{req.query} not in {allowed} for {tpl}"
        if req.method in ("PATCH", "POST", "PUT"):
            accepted = op["requestBody"]["content"]
            assert req.content_type in accepted or "*/*" in accepted, (tpl, req.content_type)
            assert req.content_type.startswith("application/"), req.content_type
        seen.add((req.method, tpl))
    assert ("PATCH", "/apis/apps/v1/namespaces/{namespace}/deployments/{name}") in seen
    assert ("POST", "/api/v1/namespaces/{namespace}/pods/{name}/eviction") in seen
    assert ("GET", "/api/v1/pods") in seen
    assert ("POST", "/api/v1/namespaces/{namespace}/resourcequotas") in seen
    assert ("GET", "/api/v1/namespaces/{name}") in seen
    assert ("DELETE", "/api/v1/namespaces/{name}") in seen
