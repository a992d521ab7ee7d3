"""Kubernetes manifests: schema-valid, least-privilege RBAC, hardened pods, consistent wiring.

core/v1 and apps/v1 objects are checked against the official OpenAPI v3 specs in
tests/contracts/kubernetes/ (unknown fields, types, required fields, enums); the other kinds
(RBAC, policy, networking) against the typed models of the kubernetes Python client.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from functools import cache
from pathlib import Path
from typing import Any

import kubernetes.client
import pytest
import yaml

from bot.config import Settings, load_settings

ROOT = Path(__file__).resolve().parents[2]
KDIR = ROOT / "deploy" / "kubernetes"
SPECS = ROOT / "tests" / "contracts" / "kubernetes"
APP = {"app.kubernetes.io/name": "console-copilot"}

# What the runbook catalog needs, and nothing else: (apiGroup, resource, verb).
EXPECTED_GRANTS = {
    *{("apps", r, v) for r in ("deployments", "replicasets") for v in ("get", "list", "watch")},
    *{
        ("", r, v)
        for r in ("pods", "events", "nodes", "configmaps")
        for v in ("get", "list", "watch")
    },
    ("apps", "deployments", "patch"),
    ("apps", "deployments/scale", "patch"),
    ("", "configmaps", "patch"),
    ("", "nodes", "patch"),
    ("", "pods/eviction", "create"),
    *{("", r, "create") for r in ("namespaces", "resourcequotas", "limitranges")},
    ("networking.k8s.io", "networkpolicies", "create"),
    ("", "namespaces", "get"),
    ("", "namespaces", "delete"),
}


def load(path: Path) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(path.read_text(encoding="utf-8")) if d]


def manifests() -> list[tuple[str, dict[str, Any]]]:
    out = []
    for path in sorted(KDIR.glob("*.yaml")):
        if path.name != "kustomization.yaml":
            out.extend((path.name, doc) for doc in load(path))
    return out


def by_kind(kind: str) -> list[dict[str, Any]]:
    return [doc for _, doc in manifests() if doc["kind"] == kind]


def one(kind: str) -> dict[str, Any]:
    docs = by_kind(kind)
    assert len(docs) == 1, f"expected one {kind}, got {len(docs)}"
    return docs[0]


# -- OpenAPI v3 (core/v1, apps/v1) ----------------------------------------------------------
@cache
def openapi_schemas() -> dict[str, Any]:
    schemas: dict[str, Any] = {}
    for name in ("api__v1_openapi.json", "apis__apps__v1_openapi.json"):
        doc = json.loads((SPECS / name).read_text(encoding="utf-8"))
        schemas.update(doc["components"]["schemas"])
    return schemas


def schema_for(api_version: str, kind: str) -> str | None:
    group, _, version = api_version.rpartition("/")
    for name, schema in openapi_schemas().items():
        for gvk in schema.get("x-kubernetes-group-version-kind", []):
            if (gvk["group"], gvk["version"], gvk["kind"]) == (group, version, kind):
                return name
    return None


def _resolve(schema: dict[str, Any]) -> dict[str, Any]:
    while True:
        if "$ref" in schema:
            schema = openapi_schemas()[schema["$ref"].rsplit("/", 1)[-1]]
        elif "allOf" in schema and len(schema["allOf"]) == 1 and "properties" not in schema:
            schema = schema["allOf"][0]
        else:
            return schema


def _type_ok(value: Any, typ: str) -> bool:
    return {
        "string": isinstance(value, str),
        "integer": isinstance(value, int) and not isinstance(value, bool),
        "number": isinstance(value, int | float) and not isinstance(value, bool),
        "boolean": isinstance(value, bool),
        "object": isinstance(value, dict),
        "array": isinstance(value, list),
    }[typ]


def openapi_errors(value: Any, schema: dict[str, Any], path: str) -> list[str]:
    """Unknown fields, wrong types, missing required fields and bad enums, as messages."""
    schema = _resolve(schema)
    if "oneOf" in schema:  # IntOrString, Quantity
        if any(_type_ok(value, alt["type"]) for alt in schema["oneOf"]):
            return []
        return [f"{path}: {value!r} matches none of {[a['type'] for a in schema['oneOf']]}"]
    typ = schema.get("type")
    if typ and not _type_ok(value, typ):
        return [f"{path}: expected {typ}, got {type(value).__name__}"]
    if "enum" in schema and value not in schema["enum"]:
        return [f"{path}: {value!r} not in {schema['enum']}"]
    errors: list[str] = []
    if isinstance(value, dict):
        props = schema.get("properties")
        if props is not None:
            errors += [
                f"{path}.{k}: required" for k in schema.get("required", []) if k not in value
            ]
            for key, sub in value.items():
                if key not in props:
                    errors.append(f"{path}.{key}: unknown field")
                else:
                    errors += openapi_errors(sub, props[key], f"{path}.{key}")
        elif isinstance(schema.get("additionalProperties"), dict):
            for key, sub in value.items():
                errors += openapi_errors(sub, schema["additionalProperties"], f"{path}.{key}")
    elif isinstance(value, list) and "items" in schema:
        for i, item in enumerate(value):
            errors += openapi_errors(item, schema["items"], f"{path}[{i}]")
    return errors


# -- kubernetes client models (rbac, policy, networking) ------------------------------------
def model_errors(value: Any, typ: str, path: str) -> list[str]:
    """Check a manifest fragment against a kubernetes-client model type string."""
    if m := re.fullmatch(r"(?:List|list)\[(.+)\]", typ):
        if not isinstance(value, list):
            return [f"{path}: expected a list"]
        return [e for i, v in enumerate(value) for e in model_errors(v, m.group(1), f"{path}[{i}]")]
    if m := re.fullmatch(r"(?:Dict|dict)[\[(]str, (.+)[\])]", typ):
        if not isinstance(value, dict):
            return [f"{path}: expected a mapping"]
        return [e for k, v in value.items() for e in model_errors(v, m.group(1), f"{path}.{k}")]
    simple = {"str": str, "int": int, "bool": bool, "float": (int, float)}
    if typ in simple:
        ok = isinstance(value, simple[typ]) and not (typ != "bool" and isinstance(value, bool))
        return [] if ok else [f"{path}: expected {typ}, got {value!r}"]
    if typ == "object":  # IntOrString and friends
        return []
    model = getattr(kubernetes.client, typ)
    if not isinstance(value, dict):
        return [f"{path}: expected a {typ} object"]
    by_json = {json_name: attr for attr, json_name in model.attribute_map.items()}
    errors = []
    for key, sub in value.items():
        if key not in by_json:
            errors.append(f"{path}.{key}: unknown field of {typ}")
        else:
            errors += model_errors(sub, model.openapi_types[by_json[key]], f"{path}.{key}")
    return errors


def test_every_manifest_is_schema_valid() -> None:
    covered_by_openapi = set()
    for filename, doc in manifests():
        api_version, kind = doc["apiVersion"], doc["kind"]
        where = f"{filename}:{kind}/{doc['metadata']['name']}"
        name = schema_for(api_version, kind)
        if name:
            covered_by_openapi.add(kind)
            errors = openapi_errors(doc, {"$ref": f"#/components/schemas/{name}"}, where)
        else:
            model = api_version.rsplit("/", 1)[-1].capitalize() + kind  # V1ClusterRole
            errors = model_errors(doc, model, where)
        assert not errors, "\n".join(errors)
    expected = {"Namespace", "ServiceAccount", "ConfigMap", "Secret", "Service", "Deployment"}
    assert covered_by_openapi == expected


def test_validators_catch_mistakes() -> None:
    bad = json.loads(json.dumps(one("Deployment")))
    spec = bad["spec"]["template"]["spec"]
    spec["containers"][0]["readinesProbe"] = {}
    spec["containers"][0]["ports"][0]["containerPort"] = "8080"
    del spec["containers"][0]["name"]
    errors = openapi_errors(
        bad, {"$ref": "#/components/schemas/io.k8s.api.apps.v1.Deployment"}, "d"
    )
    assert any("readinesProbe: unknown field" in e for e in errors)
    assert any("containerPort: expected integer" in e for e in errors)
    assert any(".name: required" in e for e in errors)
    role = {"kind": "ClusterRole", "rules": [{"apiGroup": [""], "verbs": "get"}]}
    assert len(model_errors(role, "V1ClusterRole", "r")) == 2


# -- RBAC ------------------------------------------------------------------------------------
def test_cluster_role_grants_exactly_what_the_runbooks_need() -> None:
    role = one("ClusterRole")
    grants = set()
    for rule in role["rules"]:
        assert set(rule) <= {"apiGroups", "resources", "verbs"}, "no resourceNames/nonResourceURLs"
        for field in ("apiGroups", "resources", "verbs"):
            assert "*" not in rule[field], f"wildcard in {field}"
        grants |= {
            (g, r, v) for g in rule["apiGroups"] for r in rule["resources"] for v in rule["verbs"]
        }
    assert not {g for g in grants if g[1].startswith("secrets")}, "no access to Secrets"
    assert not {
        g for g in grants if g[2] in {"escalate", "bind", "impersonate", "deletecollection"}
    }
    assert grants == EXPECTED_GRANTS
    assert not by_kind("Role"), "every grant lives in the one reviewed ClusterRole"


def _role_grants() -> set[tuple[str, str, str]]:
    return {
        (g, r, v)
        for rule in one("ClusterRole")["rules"]
        for g in rule["apiGroups"]
        for r in rule["resources"]
        for v in rule["verbs"]
    }


def test_namespace_object_grants_follow_the_catalog() -> None:
    """Creating and deleting namespaces, quotas, limits and network policies is granted exactly
    as far as the catalog's create_objects and delete_namespace steps use it."""
    from runbooks.catalog import load_catalog
    from runbooks.steps.kubernetes import CREATABLE

    plural = {
        "Namespace": "namespaces",
        "ResourceQuota": "resourcequotas",
        "LimitRange": "limitranges",
        "NetworkPolicy": "networkpolicies",
        "ConfigMap": "configmaps",
    }
    needed: set[tuple[str, str, str]] = set()
    for rb in load_catalog().values():
        for _, step in rb.all_steps():
            if step.kind == "create_objects":
                for obj in step.args["objects"]:
                    group = "networking.k8s.io" if CREATABLE[obj["kind"]][1] == "networking" else ""
                    needed.add((group, plural[obj["kind"]], "create"))
            elif step.kind == "delete_namespace":
                needed |= {("", "namespaces", "get"), ("", "namespaces", "delete")}
    assert ("", "namespaces", "delete") in needed, "the sandbox cleanup runbook is in the catalog"
    kinds = {"namespaces", "resourcequotas", "limitranges", "networkpolicies"}
    granted = {g for g in _role_grants() if g[1] in kinds and g[2] not in ("list", "watch")}
    assert granted == needed


def test_binding_ties_the_role_to_the_bots_service_account() -> None:
    binding = one("ClusterRoleBinding")
    sa = one("ServiceAccount")
    assert binding["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "ClusterRole",
        "name": one("ClusterRole")["metadata"]["name"],
    }
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": sa["metadata"]["name"], "namespace": "console-copilot"}
    ]
    pod = one("Deployment")["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == sa["metadata"]["name"]


# -- Deployment --------------------------------------------------------------------------------
def test_deployment_replicas_probes_and_resources() -> None:
    dep = one("Deployment")
    assert dep["spec"]["replicas"] >= 2
    assert dep["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
    pod = dep["spec"]["template"]["spec"]
    (bot,) = pod["containers"]
    assert bot["args"] == ["serve"]
    assert bot["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    assert bot["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert {"name": "http", "containerPort": 8080, "protocol": "TCP"} in bot["ports"]
    for container in pod["containers"] + pod["initContainers"]:
        res = container["resources"]
        assert {"cpu", "memory"} <= set(res["requests"]) and "memory" in res["limits"]
        tag = container["image"].rsplit(":", 1)[-1]
        assert "/" not in tag and tag != "latest", container["image"]
    (migrate,) = pod["initContainers"]
    assert migrate["args"] == ["migrate"] and migrate["image"] == bot["image"]
    keys = {t["topologyKey"] for t in pod["topologySpreadConstraints"]}
    assert keys == {"kubernetes.io/hostname", "topology.kubernetes.io/zone"}


def test_pods_are_hardened() -> None:
    pod = one("Deployment")["spec"]["template"]["spec"]
    ctx = pod["securityContext"]
    assert ctx["runAsNonRoot"] is True and ctx["runAsUser"] == 10001
    assert ctx["seccompProfile"] == {"type": "RuntimeDefault"}
    mounts_needed = {"bot": {"/tmp", "/app/var"}, "migrate": {"/tmp"}}
    volumes = {v["name"]: v for v in pod["volumes"]}
    for container in pod["containers"] + pod["initContainers"]:
        sc = container["securityContext"]
        assert sc["readOnlyRootFilesystem"] is True
        assert sc["allowPrivilegeEscalation"] is False
        assert sc["runAsNonRoot"] is True
        assert sc["capabilities"] == {"drop": ["ALL"]}
        assert sc["seccompProfile"] == {"type": "RuntimeDefault"}
        assert not sc.get("privileged")
        mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
        assert mounts_needed[container["name"]] <= set(mounts)
        assert all("emptyDir" in volumes[name] for name in mounts.values())
    assert not pod.get("hostNetwork") and not pod.get("hostPID")


def test_env_comes_from_the_configmap_and_secret_and_names_real_settings() -> None:
    cm, secret = one("ConfigMap"), one("Secret")
    pod = one("Deployment")["spec"]["template"]["spec"]
    for container in pod["containers"] + pod["initContainers"]:
        assert container["envFrom"] == [
            {"configMapRef": {"name": cm["metadata"]["name"]}},
            {"secretRef": {"name": secret["metadata"]["name"]}},
        ]
    known = {name.upper() for name in Settings.model_fields}
    assert set(cm["data"]) <= known, set(cm["data"]) - known
    assert set(secret["stringData"]) <= known, set(secret["stringData"]) - known
    required = {"DATABASE_URL", "SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET", "MATTERMOST_TOKEN"}
    assert required | {"ANTHROPIC_API_KEY"} <= set(secret["stringData"])
    assert not set(cm["data"]) & set(secret["stringData"]), "a variable lives in one place"
    assert {"PROMETHEUS_URL", "COPILOT_INCIDENTS_CHANNEL"} <= set(cm["data"])
    assert not {k for k in cm["data"] if re.search(r"TOKEN|SECRET|KEY|PASSWORD", k)}


def test_secret_template_holds_placeholders_only() -> None:
    (secret,) = load(KDIR / "secret.example.yaml")
    for key, value in secret["stringData"].items():
        assert value == "" or re.search(r"<[A-Z0-9_]+>", value), f"{key}: not a placeholder"
        assert not re.search(r"xox[abp]-|xapp-|sk-ant-", value), key
    assert secret["stringData"]["DATABASE_URL"].startswith("postgresql://")
    kustomization = yaml.safe_load((KDIR / "kustomization.yaml").read_text(encoding="utf-8"))
    assert "secret.example.yaml" not in kustomization["resources"]


def test_configmap_and_filled_secret_template_load_as_valid_settings(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in Settings.model_fields:
        monkeypatch.delenv(name.upper(), raising=False)
    env = dict(one("ConfigMap")["data"])
    for key, value in one("Secret")["stringData"].items():
        env[key] = re.sub(r"<[A-Z0-9_]+>", "placeholder", value)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    settings = load_settings()
    assert settings.database_url.startswith("postgresql+psycopg://")
    assert settings.slack_enabled and not settings.mattermost_enabled
    assert settings.copilot_http_port == 8080
    assert not settings.local_enabled, "a cluster deployment must not serve the demo workspace"


# -- Service, PDB, NetworkPolicy, scraping ---------------------------------------------------------
def test_selectors_match_the_pods() -> None:
    dep = one("Deployment")
    labels = dep["spec"]["template"]["metadata"]["labels"]
    assert dep["spec"]["selector"]["matchLabels"].items() <= labels.items()
    svc = one("Service")
    assert svc["spec"]["selector"].items() <= labels.items()
    assert svc["spec"]["ports"] == [
        {"name": "http", "port": 8080, "targetPort": "http", "protocol": "TCP"}
    ]
    pdb = one("PodDisruptionBudget")
    assert pdb["spec"]["selector"]["matchLabels"].items() <= labels.items()
    assert pdb["spec"]["minAvailable"] < dep["spec"]["replicas"], "a drain must be able to evict"
    netpol = one("NetworkPolicy")
    assert netpol["spec"]["podSelector"]["matchLabels"].items() <= labels.items()
    for _, doc in manifests():
        if doc["kind"] not in {"Namespace", "ClusterRole", "ClusterRoleBinding"}:
            assert doc["metadata"]["namespace"] == "console-copilot", doc["kind"]


def test_network_policy_limits_ingress_to_the_http_port() -> None:
    netpol = one("NetworkPolicy")
    assert set(netpol["spec"]["policyTypes"]) == {"Ingress", "Egress"}
    ports = {p["port"] for rule in netpol["spec"]["ingress"] for p in rule["ports"]}
    assert ports == {8080}
    egress = {p["port"] for rule in netpol["spec"]["egress"] for p in rule["ports"]}
    assert {53, 443, 5432} <= egress
    assert all(rule.get("ports") for rule in netpol["spec"]["egress"]), "no allow-all egress"


def test_metrics_are_scraped_by_annotation() -> None:
    want = {"prometheus.io/scrape": "true", "prometheus.io/port": "8080"}
    want["prometheus.io/path"] = "/metrics"
    pod_annotations = one("Deployment")["spec"]["template"]["metadata"]["annotations"]
    assert want.items() <= pod_annotations.items()
    assert want.items() <= one("Service")["metadata"]["annotations"].items()


# -- kustomize -------------------------------------------------------------------------------
def test_kustomization_lists_every_manifest_but_the_secret_template() -> None:
    kustomization = yaml.safe_load((KDIR / "kustomization.yaml").read_text(encoding="utf-8"))
    files = {p.name for p in KDIR.glob("*.yaml")} - {"kustomization.yaml", "secret.example.yaml"}
    assert set(kustomization["resources"]) == files
    assert kustomization["namespace"] == "console-copilot"
    image = one("Deployment")["spec"]["template"]["spec"]["containers"][0]["image"]
    assert kustomization["images"][0]["name"] == image.rsplit(":", 1)[0]


def test_kubectl_kustomize_renders_the_bundle() -> None:
    kubectl = shutil.which("kubectl")
    if not kubectl:
        pytest.skip("kubectl not installed: `kubectl kustomize` rendering not checked")
    out = subprocess.run(
        [kubectl, "kustomize", str(KDIR)], capture_output=True, text=True, timeout=60, check=True
    ).stdout
    rendered = [d for d in yaml.safe_load_all(out) if d]
    expected = sorted(
        (d["kind"], d["metadata"]["name"]) for _, d in manifests() if d["kind"] != "Secret"
    )
    assert sorted((d["kind"], d["metadata"]["name"]) for d in rendered) == expected
    dep = next(d for d in rendered if d["kind"] == "Deployment")
    assert dep["spec"]["template"]["spec"]["containers"][0]["image"].endswith(":0.1.0")
