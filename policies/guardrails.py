"""Guardrails for Kubernetes workloads: policy data (`guardrails.yaml`) plus pure predicates.

Each predicate takes the policy and one workload and returns the violations it finds; nothing
here talks to a cluster or a database. `evaluate` runs every enabled rule over many workloads.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from bot.i18n import N_
from bot.redact import redact

POLICY_FILE = Path(__file__).parent / "guardrails.yaml"
SEVERITIES = ("critical", "high", "medium", "low")
WORKLOAD_KINDS = ("Deployment", "StatefulSet", "DaemonSet")
JSON = Mapping[str, Any]

# rule id -> (title, detail, how to fix); details and fixes format with the violation's params
RULE_TEXT: dict[str, tuple[str, str, str]] = {
    "classification-label": (
        N_("Data classification label"),
        N_("no {label} label"),
        N_("Add the label {label}=<class> (one of: {classes}) to the workload and its pods."),
    ),
    "classification-value": (
        N_("Known data class"),
        N_("{label}={value} is not a known class"),
        N_("Set {label} to one of: {classes}."),
    ),
    "personal-data-region": (
        N_("Personal data stays in allowed regions"),
        N_("{value} data {problem}"),
        N_(
            "Pin the pods with nodeSelector or a required node affinity on {region_label} "
            "to: {regions}."
        ),
    ),
    "allowed-registry": (
        N_("Images from allowed registries"),
        N_("container {container} uses {image}"),
        N_("Push the image to an allowed registry ({registries}) and deploy it from there."),
    ),
    "resource-limits": (
        N_("Resource limits set"),
        N_("container {container} has no {missing} limit"),
        N_("Set resources.limits ({missing}) on container {container}."),
    ),
    "no-privileged": (
        N_("No privileged containers"),
        N_("container {container} runs privileged"),
        N_(
            "Remove securityContext.privileged from container {container}; grant only the "
            "capabilities it needs."
        ),
    ),
    "no-plain-secrets": (
        N_("No secrets in plain env values"),
        N_("container {container} has a literal secret in env {env}"),
        N_("Move {env} to a Secret and reference it with valueFrom.secretKeyRef."),
    ),
}
# problems of the residency rule (the {problem} of its detail)
NOT_PINNED = N_("is not pinned to a region")
WRONG_REGION = N_("may run in {regions}")


@dataclass(frozen=True)
class Rule:
    id: str
    severity: str
    enabled: bool = True


@dataclass(frozen=True)
class GuardrailPolicy:
    rules: tuple[Rule, ...]
    exempt_namespaces: frozenset[str] = frozenset()
    classification_label: str = "data-classification"
    classes: tuple[str, ...] = ()
    default_class: str = "internal"
    region_label: str = "topology.kubernetes.io/region"
    allowed_regions: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    allowed_registries: tuple[str, ...] = ()
    required_limits: tuple[str, ...] = ("cpu", "memory")
    secret_name: re.Pattern[str] = re.compile(r"(?i)(PASSWORD|TOKEN|SECRET|KEY)")

    def rule(self, rule_id: str) -> Rule | None:
        return next((r for r in self.rules if r.id == rule_id), None)

    def severity(self, rule_id: str) -> str:
        r = self.rule(rule_id)
        return r.severity if r else "low"


def parse_policy(raw: Mapping[str, Any]) -> GuardrailPolicy:
    """Build a policy from its YAML mapping (unknown rule ids or severities are errors)."""
    rules = []
    for item in raw.get("rules") or []:
        rid, sev = str(item["id"]), str(item.get("severity", "medium"))
        if rid not in RULE_TEXT:
            raise ValueError(f"unknown guardrail rule {rid!r}")
        if sev not in SEVERITIES:
            raise ValueError(f"rule {rid}: severity must be one of {', '.join(SEVERITIES)}")
        rules.append(Rule(rid, sev, bool(item.get("enabled", True))))
    cls = raw.get("classification") or {}
    res = raw.get("residency") or {}
    return GuardrailPolicy(
        rules=tuple(rules),
        exempt_namespaces=frozenset(raw.get("exempt_namespaces") or ()),
        classification_label=str(cls.get("label", "data-classification")),
        classes=tuple(str(c) for c in cls.get("classes") or ()),
        default_class=str(cls.get("default", "internal")),
        region_label=str(res.get("region_label", "topology.kubernetes.io/region")),
        allowed_regions={
            str(k): tuple(str(r) for r in v) for k, v in (res.get("allowed_regions") or {}).items()
        },
        allowed_registries=tuple((raw.get("images") or {}).get("allowed_registries") or ()),
        required_limits=tuple(
            (raw.get("resources") or {}).get("required_limits") or ("cpu", "memory")
        ),
        secret_name=re.compile((raw.get("secrets") or {}).get("name_pattern") or r"(?i)SECRET"),
    )


def load_policy(path: Path = POLICY_FILE) -> GuardrailPolicy:
    """The shipped guardrail policy (or another YAML file)."""
    return parse_policy(yaml.safe_load(path.read_text(encoding="utf-8")) or {})


@dataclass(frozen=True)
class Workload:
    """A Deployment, StatefulSet or DaemonSet and its pod template, as plain JSON."""

    kind: str
    namespace: str
    name: str
    labels: Mapping[str, str]
    template_labels: Mapping[str, str]
    pod_spec: JSON

    @property
    def ref(self) -> str:
        return f"{self.kind}/{self.namespace}/{self.name}"

    @classmethod
    def from_object(cls, kind: str, obj: JSON) -> Workload:
        """From an API object (as returned by the apps/v1 API)."""
        meta = obj.get("metadata") or {}
        template = (obj.get("spec") or {}).get("template") or {}
        return cls(
            kind=kind,
            namespace=str(meta.get("namespace", "")),
            name=str(meta.get("name", "")),
            labels=dict(meta.get("labels") or {}),
            template_labels=dict((template.get("metadata") or {}).get("labels") or {}),
            pod_spec=template.get("spec") or {},
        )

    def label(self, key: str) -> str | None:
        """A label of the workload, else of its pod template."""
        return self.labels.get(key, self.template_labels.get(key))

    def containers(self) -> list[JSON]:
        spec = self.pod_spec
        return [*(spec.get("initContainers") or []), *(spec.get("containers") or [])]


@dataclass(frozen=True)
class Violation:
    """One broken rule; `subject` tells apart several violations of one rule (a container)."""

    rule: str
    params: dict[str, Any]
    subject: str = ""


@dataclass(frozen=True)
class Finding:
    workload: Workload
    rule: str
    severity: str
    params: dict[str, Any]
    subject: str = ""

    @property
    def fingerprint(self) -> str:
        return f"{self.rule}|{self.workload.ref}|{self.subject}"


Predicate = Callable[[GuardrailPolicy, Workload], list[Violation]]


def check_classification_label(p: GuardrailPolicy, w: Workload) -> list[Violation]:
    """The data-classification label must be present."""
    if w.label(p.classification_label):
        return []
    return [
        Violation(
            "classification-label",
            {"label": p.classification_label, "classes": ", ".join(p.classes)},
        )
    ]


def check_classification_value(p: GuardrailPolicy, w: Workload) -> list[Violation]:
    """A present classification must be one of the policy's classes."""
    value = w.label(p.classification_label)
    if not value or not p.classes or value in p.classes:
        return []
    return [
        Violation(
            "classification-value",
            {"label": p.classification_label, "value": value, "classes": ", ".join(p.classes)},
        )
    ]


def pinned_regions(p: GuardrailPolicy, pod_spec: JSON) -> set[str] | None:
    """The regions the pods may be scheduled in, or None when nothing restricts the region.

    nodeSelector and every term of a required node affinity must hold; the affinity's terms
    are ORed, so the pods may run in the union of their regions (a term without a region
    restriction leaves the region open).
    """
    allowed: set[str] | None = None
    selector = (pod_spec.get("nodeSelector") or {}).get(p.region_label)
    if selector:
        allowed = {str(selector)}
    required = ((pod_spec.get("affinity") or {}).get("nodeAffinity") or {}).get(
        "requiredDuringSchedulingIgnoredDuringExecution"
    ) or {}
    terms = required.get("nodeSelectorTerms") or []
    if terms:
        union: set[str] = set()
        for term in terms:
            regions: set[str] | None = None
            for expr in term.get("matchExpressions") or []:
                if expr.get("key") == p.region_label and expr.get("operator") == "In":
                    values = {str(v) for v in expr.get("values") or []}
                    regions = values if regions is None else regions & values
            if regions is None:
                union = set()
                break
            union |= regions
        else:
            allowed = union if allowed is None else allowed & union
    return allowed


def check_personal_data_region(p: GuardrailPolicy, w: Workload) -> list[Violation]:
    """Workloads labeled as holding personal data run only in the class's allowed regions."""
    value = w.label(p.classification_label)
    if not value or value not in p.allowed_regions:
        return []
    ok = set(p.allowed_regions[value])
    regions = pinned_regions(p, w.pod_spec)
    params = {
        "value": value,
        "region_label": p.region_label,
        "regions": ", ".join(sorted(ok)),
    }
    if regions is None:
        return [Violation("personal-data-region", {**params, "problem": NOT_PINNED})]
    bad = regions - ok
    if bad or not regions:
        return [
            Violation(
                "personal-data-region",
                {**params, "problem": WRONG_REGION, "where": ", ".join(sorted(bad)) or "-"},
            )
        ]
    return []


def image_allowed(p: GuardrailPolicy, image: str) -> bool:
    """Is the image from an allowed registry (prefix match; no registry means docker.io)?"""
    first = image.split("/", 1)[0]
    if "/" not in image or not ("." in first or ":" in first or first == "localhost"):
        image = "docker.io/" + (image if "/" in image else "library/" + image)
    return any(image.startswith(prefix) for prefix in p.allowed_registries)


def check_allowed_registry(p: GuardrailPolicy, w: Workload) -> list[Violation]:
    """Every container image comes from an allowed registry."""
    return [
        Violation(
            "allowed-registry",
            {
                "container": c.get("name", "?"),
                "image": c.get("image", ""),
                "registries": ", ".join(p.allowed_registries),
            },
            c.get("name", ""),
        )
        for c in w.containers()
        if not image_allowed(p, str(c.get("image", "")))
    ]


def check_resource_limits(p: GuardrailPolicy, w: Workload) -> list[Violation]:
    """Every container sets the required resource limits."""
    out = []
    for c in w.containers():
        limits = (c.get("resources") or {}).get("limits") or {}
        missing = [r for r in p.required_limits if not limits.get(r)]
        if missing:
            out.append(
                Violation(
                    "resource-limits",
                    {"container": c.get("name", "?"), "missing": ", ".join(missing)},
                    c.get("name", ""),
                )
            )
    return out


def check_no_privileged(p: GuardrailPolicy, w: Workload) -> list[Violation]:
    """No container runs privileged."""
    return [
        Violation("no-privileged", {"container": c.get("name", "?")}, c.get("name", ""))
        for c in w.containers()
        if (c.get("securityContext") or {}).get("privileged") is True
    ]


def secret_env(p: GuardrailPolicy, name: str, value: str) -> bool:
    """Is this literal env value a secret (by its name, or by its content)?"""
    if not value:
        return False
    return bool(p.secret_name.search(name)) or redact(value) != value


def check_no_plain_secrets(p: GuardrailPolicy, w: Workload) -> list[Violation]:
    """No env var carries a secret as a literal value (never echoes the value)."""
    out = []
    for c in w.containers():
        for env in c.get("env") or []:
            name = str(env.get("name", ""))
            if "value" in env and secret_env(p, name, str(env.get("value") or "")):
                out.append(
                    Violation(
                        "no-plain-secrets",
                        {"container": c.get("name", "?"), "env": name},
                        f"{c.get('name', '')}/{name}",
                    )
                )
    return out


PREDICATES: dict[str, Predicate] = {
    "classification-label": check_classification_label,
    "classification-value": check_classification_value,
    "personal-data-region": check_personal_data_region,
    "allowed-registry": check_allowed_registry,
    "resource-limits": check_resource_limits,
    "no-privileged": check_no_privileged,
    "no-plain-secrets": check_no_plain_secrets,
}


def check(p: GuardrailPolicy, w: Workload) -> list[Finding]:
    """Every enabled rule against one workload."""
    out: list[Finding] = []
    for rule in p.rules:
        if not rule.enabled:
            continue
        for v in PREDICATES[rule.id](p, w):
            out.append(Finding(w, v.rule, rule.severity, v.params, v.subject))
    return out


@dataclass(frozen=True)
class Evaluation:
    workloads: tuple[Workload, ...]
    findings: tuple[Finding, ...]

    @property
    def compliant(self) -> int:
        bad = {f.workload.ref for f in self.findings}
        return sum(1 for w in self.workloads if w.ref not in bad)

    @property
    def percent(self) -> float:
        return 100.0 * self.compliant / len(self.workloads) if self.workloads else 100.0


def evaluate(p: GuardrailPolicy, workloads: Iterable[Workload]) -> Evaluation:
    """Check every workload outside the exempt namespaces."""
    kept = tuple(w for w in workloads if w.namespace not in p.exempt_namespaces)
    findings = tuple(f for w in kept for f in check(p, w))
    return Evaluation(kept, findings)


def describe(t: Callable[..., str], rule: str, params: Mapping[str, Any]) -> tuple[str, str, str]:
    """(title, detail, fix) of a finding, translated."""
    title, detail, fix = RULE_TEXT.get(rule, (rule, "", ""))
    kw = dict(params)
    if "problem" in kw:
        kw["problem"] = t(kw["problem"], regions=kw.get("where", ""))
    return t(title), t(detail, **kw) if detail else "", t(fix, **kw) if fix else ""


def rank(findings: Sequence[Finding]) -> list[Finding]:
    """Most severe first, then by workload."""
    order = {s: i for i, s in enumerate(SEVERITIES)}
    return sorted(findings, key=lambda f: (order.get(f.severity, 9), f.workload.ref, f.rule))
