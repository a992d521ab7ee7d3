"""Step kinds, by name."""

from __future__ import annotations

from runbooks.steps import checks, kubernetes
from runbooks.steps.base import (
    Change,
    PromQuery,
    StepContext,
    StepFailed,
    StepKind,
    StepResult,
)

KINDS: dict[str, StepKind] = {
    k.name: k
    for k in (
        StepKind("rollout_restart", kubernetes.rollout_restart, ("namespace", "deployment"), True),
        StepKind("rollback", kubernetes.rollback, ("namespace", "deployment"), True),
        StepKind("scale", kubernetes.scale, ("namespace", "deployment", "replicas"), True),
        StepKind("set_image", kubernetes.set_image, ("namespace", "deployment", "image"), True),
        StepKind(
            "patch_configmap", kubernetes.patch_configmap, ("namespace", "configmap", "data"), True
        ),
        StepKind("cordon", kubernetes.cordon, ("node",), True),
        StepKind("drain", kubernetes.drain, ("node",), True),
        StepKind("create_objects", kubernetes.create_objects, ("objects",), True),
        StepKind(
            "delete_namespace",
            kubernetes.delete_namespace,
            ("namespace", "require_labels"),
            True,
        ),
        StepKind(
            "label_workload",
            kubernetes.label_workload,
            ("namespace", "kind", "name", "key", "value"),
            True,
        ),
        StepKind("prometheus_check", checks.prometheus_check, ("query", "threshold"), False),
        StepKind("http_check", checks.http_check, ("url",), False),
        StepKind("wait", checks.wait, (), False),
        StepKind("notify", checks.notify, ("message",), False),
    )
}

__all__ = ["KINDS", "Change", "PromQuery", "StepContext", "StepFailed", "StepKind", "StepResult"]
