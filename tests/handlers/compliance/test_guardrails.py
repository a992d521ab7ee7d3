"""The guardrail rule matrix against workloads served by the Kubernetes emulator."""

from __future__ import annotations

from bot.clients.kubernetes import KubeClient
from handlers.compliance.workloads import list_workloads
from policies.guardrails import describe, evaluate, image_allowed, load_policy, pinned_regions

EXPECTED = {
    ("Deployment/shop/unlabeled", "classification-label"),
    ("Deployment/shop/odd-class", "classification-value"),
    ("Deployment/crm/pd-unpinned", "personal-data-region"),
    ("StatefulSet/crm/pd-us", "personal-data-region"),
    ("Deployment/crm/spd-wrong", "personal-data-region"),
    ("Deployment/web/dockerhub", "allowed-registry"),
    ("Deployment/web/no-limits", "resource-limits"),
    ("DaemonSet/ops/root-agent", "no-privileged"),
    ("DaemonSet/ops/leaky", "no-plain-secrets"),
}


def t(s: str, **kw: object) -> str:
    return s.format(**kw)


def test_rule_matrix_over_the_emulator(gr_kube: KubeClient) -> None:
    policy = load_policy()
    workloads = list_workloads(gr_kube)
    kinds = {w.kind for w in workloads}
    assert kinds == {"Deployment", "StatefulSet", "DaemonSet"}
    ev = evaluate(policy, workloads)
    got = {(f.workload.ref, f.rule) for f in ev.findings}
    assert got == EXPECTED
    assert all(w.namespace != "kube-system" for w in ev.workloads)  # exempt
    # two literal secrets in `leaky` (by name, and by content); valueFrom and LOG_LEVEL pass
    leaky = [f for f in ev.findings if f.workload.name == "leaky"]
    assert sorted(f.params["env"] for f in leaky) == ["DATABASE_URL", "DB_PASSWORD"]
    assert len(ev.workloads) == 14 and ev.compliant == 5  # 15 seeded, 1 exempt
    assert round(ev.percent) == 36  # 5 of 14
    for f in ev.findings:
        assert f.severity == policy.severity(f.rule)
        title, detail, fix = describe(t, f.rule, f.params)
        assert title and detail and fix
    # the secret's value is never echoed
    text = " ".join(" ".join(describe(t, f.rule, f.params)) for f in leaky)
    assert "hunter2" not in text and "s3cr3t" not in text


def test_namespace_scope(gr_kube: KubeClient) -> None:
    ev = evaluate(load_policy(), list_workloads(gr_kube, "crm"))
    assert {w.name for w in ev.workloads} == {
        "pd-unpinned",
        "pd-ok",
        "pd-affinity-ok",
        "pd-us",
        "spd-wrong",
    }
    assert ev.compliant == 2


def test_region_pinning_predicate() -> None:
    p = load_policy()
    assert pinned_regions(p, {}) is None
    assert pinned_regions(p, {"nodeSelector": {p.region_label: "eu-west-1"}}) == {"eu-west-1"}
    term_without_region = {
        "affinity": {
            "nodeAffinity": {
                "requiredDuringSchedulingIgnoredDuringExecution": {
                    "nodeSelectorTerms": [
                        {"matchExpressions": [{"key": "pool", "operator": "In", "values": ["a"]}]}
                    ]
                }
            }
        }
    }
    assert pinned_regions(p, term_without_region) is None


def test_registry_predicate() -> None:
    p = load_policy()
    assert image_allowed(p, "registry.example/shop/cart:1")
    assert image_allowed(p, "registry.k8s.io/coredns:v1.11.1")
    assert not image_allowed(p, "nginx")
    assert not image_allowed(p, "library/nginx:1")
    assert not image_allowed(p, "registry.example.evil.com/x:1")
    assert not image_allowed(p, "quay.io/prometheus/node-exporter:v1")
