"""Kubernetes step kinds. Each one reads the object, runs the change as a server-side dry run
(`dryRun=All`), shows the difference, and — unless the context is a dry run — applies it with
the read resourceVersion so a concurrent edit fails with 409 instead of being overwritten."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from bot.clients.kubernetes import KubeClient, KubeError
from bot.i18n import N_
from runbooks.steps.base import Change, StepContext, StepFailed, StepResult, as_int

REVISION = "deployment.kubernetes.io/revision"
RESTARTED_AT = "kubectl.kubernetes.io/restartedAt"
SMP = "application/strategic-merge-patch+json"
MERGE = "application/merge-patch+json"
JSON_PATCH = "application/json-patch+json"
JSON_HEADERS = {"Content-Type": "application/json"}
# (dry run, done) summaries
RESTART = (N_("Dry run: restart {target}"), N_("Restarted {target}"))
SCALE = (N_("Dry run: scale {target}"), N_("Scaled {target}"))
SET_IMAGE = (N_("Dry run: set the image of {target}"), N_("Set the image of {target}"))
ROLLBACK = (
    N_("Dry run: roll {target} back to revision {revision}"),
    N_("Rolled {target} back to revision {revision}"),
)
CORDON = (N_("Dry run: cordon node {node}"), N_("Cordoned node {node}"))
UNCORDON = (N_("Dry run: uncordon node {node}"), N_("Uncordoned node {node}"))
DRAIN = (
    N_("Dry run: drain node {node} ({n} pods to evict)"),
    N_("Drained node {node} ({n} pods evicted)"),
)
CREATE = (N_("Dry run: objects to create: {n}"), N_("Objects created: {n}"))
JSONObj = dict[str, Any]


def diff_objects(target: str, before: JSONObj, after: JSONObj) -> list[Change]:
    """The human-readable changes between two versions of an object (fields runbooks touch)."""
    changes: list[Change] = []
    bspec, aspec = before.get("spec", {}) or {}, after.get("spec", {}) or {}
    if "replicas" in aspec and bspec.get("replicas") != aspec.get("replicas"):
        changes.append(
            Change(target, "replicas", str(bspec.get("replicas")), str(aspec["replicas"]))
        )
    btpl = bspec.get("template") or {}
    atpl = aspec.get("template") or {}
    bcont = {c["name"]: c.get("image", "") for c in (btpl.get("spec") or {}).get("containers", [])}
    acont = {c["name"]: c.get("image", "") for c in (atpl.get("spec") or {}).get("containers", [])}
    for name in sorted(set(bcont) | set(acont)):
        if bcont.get(name) != acont.get(name):
            changes.append(
                Change(target, f"image of {name}", bcont.get(name, "—"), acont.get(name, "—"))
            )
    bann = (btpl.get("metadata") or {}).get("annotations") or {}
    aann = (atpl.get("metadata") or {}).get("annotations") or {}
    for key in sorted(set(bann) | set(aann)):
        if bann.get(key) != aann.get(key):
            changes.append(Change(target, key, bann.get(key, "—"), aann.get(key, "—")))
    if bool(bspec.get("unschedulable")) != bool(aspec.get("unschedulable")):
        changes.append(
            Change(
                target,
                "unschedulable",
                str(bool(bspec.get("unschedulable"))).lower(),
                str(bool(aspec.get("unschedulable"))).lower(),
            )
        )
    bdata, adata = before.get("data") or {}, after.get("data") or {}
    if "data" in after or "data" in before:
        for key in sorted(set(bdata) | set(adata)):
            if bdata.get(key) != adata.get(key):
                changes.append(
                    Change(target, f"key {key}", bdata.get(key, "—"), adata.get(key, "—"))
                )
    return changes


def _fail(exc: KubeError, ctx: StepContext, target: str) -> StepFailed:
    return StepFailed(exc.describe(ctx.t, target=target))


def _patch_deployment(
    ctx: StepContext,
    ns: str,
    name: str,
    make_patch: Any,
    ctype: str,
    msgs: tuple[str, str],
    **fmt: Any,
) -> StepResult:
    """GET, dry-run PATCH, diff, then real PATCH guarded by resourceVersion."""
    kube = ctx.require_kube()
    target = f"deployment {ns}/{name}"
    try:
        before = kube.raw(kube.apps.read_namespaced_deployment, name, ns)
        body = make_patch(before)
        after = kube.raw(
            kube.apps.patch_namespaced_deployment,
            name,
            ns,
            body,
            dry_run="All",
            _content_type=ctype,
        )
        changes = diff_objects(target, before, after)
        if ctx.dry_run:
            return StepResult(True, ctx.t(msgs[0], target=target, **fmt), changes)
        applied = kube.raw(
            kube.apps.patch_namespaced_deployment, name, ns, body, _content_type=ctype
        )
    except KubeError as exc:
        raise _fail(exc, ctx, target) from exc
    return StepResult(
        True,
        ctx.t(msgs[1], target=target, **fmt),
        changes,
        {"resourceVersion": applied.get("metadata", {}).get("resourceVersion")},
    )


def _guard(before: JSONObj) -> JSONObj:
    return {"resourceVersion": before["metadata"]["resourceVersion"]}


def rollout_restart(ctx: StepContext, args: Mapping[str, Any]) -> StepResult:
    """Restart a deployment's pods (as `kubectl rollout restart`)."""
    stamp = ctx.now().strftime("%Y-%m-%dT%H:%M:%SZ")

    def patch(before: JSONObj) -> JSONObj:
        return {
            "metadata": _guard(before),
            "spec": {"template": {"metadata": {"annotations": {RESTARTED_AT: stamp}}}},
        }

    return _patch_deployment(ctx, args["namespace"], args["deployment"], patch, SMP, RESTART)


def scale(ctx: StepContext, args: Mapping[str, Any]) -> StepResult:
    """Set a deployment's replica count."""
    replicas = as_int(args["replicas"], "replicas", ctx.t)

    def patch(before: JSONObj) -> JSONObj:
        return {"metadata": _guard(before), "spec": {"replicas": replicas}}

    return _patch_deployment(ctx, args["namespace"], args["deployment"], patch, SMP, SCALE)


def set_image(ctx: StepContext, args: Mapping[str, Any]) -> StepResult:
    """Change the image of one container (by default the only/first one)."""

    def patch(before: JSONObj) -> JSONObj:
        containers = before["spec"]["template"]["spec"]["containers"]
        name = args.get("container") or containers[0]["name"]
        if name not in {c["name"] for c in containers}:
            raise StepFailed(
                ctx.t(
                    "Deployment {ns}/{dep} has no container {name}",
                    ns=args["namespace"],
                    dep=args["deployment"],
                    name=name,
                )
            )
        return {
            "metadata": _guard(before),
            "spec": {
                "template": {"spec": {"containers": [{"name": name, "image": args["image"]}]}}
            },
        }

    return _patch_deployment(ctx, args["namespace"], args["deployment"], patch, SMP, SET_IMAGE)


def previous_revision(kube: KubeClient, dep: JSONObj, to_revision: int | None) -> JSONObj | None:
    """The ReplicaSet to roll back to: `to_revision`, else the highest revision below current."""
    ns = dep["metadata"]["namespace"]
    labels = dep["spec"]["selector"].get("matchLabels", {})
    selector = ",".join(f"{k}={v}" for k, v in sorted(labels.items()))
    rs_list = kube.raw(kube.apps.list_namespaced_replica_set, ns, label_selector=selector)
    uid = dep["metadata"]["uid"]
    owned = [
        rs
        for rs in rs_list.get("items", [])
        if any(o.get("uid") == uid for o in rs["metadata"].get("ownerReferences") or [])
    ]
    current = int((dep["metadata"].get("annotations") or {}).get(REVISION, "0"))

    def rev(rs: JSONObj) -> int:
        return int((rs["metadata"].get("annotations") or {}).get(REVISION, "0"))

    if to_revision is not None:
        return next((rs for rs in owned if rev(rs) == to_revision), None)
    older = [rs for rs in owned if rev(rs) < current]
    return max(older, key=rev) if older else None


def rollback(ctx: StepContext, args: Mapping[str, Any]) -> StepResult:
    """Roll a deployment back to its previous ReplicaSet revision (as `kubectl rollout undo`)."""
    kube = ctx.require_kube()
    ns, name = args["namespace"], args["deployment"]
    to_rev = args.get("to_revision")
    to_rev_i = as_int(to_rev, "to_revision", ctx.t) if to_rev not in (None, "", 0, "0") else None
    target = f"deployment {ns}/{name}"
    try:
        dep = kube.raw(kube.apps.read_namespaced_deployment, name, ns)
        rs = previous_revision(kube, dep, to_rev_i)
    except KubeError as exc:
        raise _fail(exc, ctx, target) from exc
    if rs is None:
        raise StepFailed(ctx.t("{target} has no previous revision to roll back to", target=target))
    template = rs["spec"]["template"]
    labels = dict((template.get("metadata") or {}).get("labels") or {})
    labels.pop("pod-template-hash", None)
    template = {**template, "metadata": {**(template.get("metadata") or {}), "labels": labels}}
    revision = (rs["metadata"].get("annotations") or {}).get(REVISION)

    def patch(before: JSONObj) -> list[JSONObj]:
        return [
            # Replacing resourceVersion with the one read makes the API server refuse (409) a
            # rollback computed from a stale object, as with any optimistic-concurrency update.
            {
                "op": "replace",
                "path": "/metadata/resourceVersion",
                "value": before["metadata"]["resourceVersion"],
            },
            {"op": "replace", "path": "/spec/template", "value": template},
        ]

    result = _patch_deployment(ctx, ns, name, patch, JSON_PATCH, ROLLBACK, revision=revision)
    result.output["revision"] = revision
    return result


def patch_configmap(ctx: StepContext, args: Mapping[str, Any]) -> StepResult:
    """Set keys of a ConfigMap (feature flags): data values are strings."""
    kube = ctx.require_kube()
    ns, name = args["namespace"], args["configmap"]
    data = {str(k): _flag(v) for k, v in dict(args["data"]).items()}
    target = f"configmap {ns}/{name}"
    try:
        before = kube.raw(kube.core.read_namespaced_config_map, name, ns)
        body = {"metadata": _guard(before), "data": data}
        after = kube.raw(
            kube.core.patch_namespaced_config_map,
            name,
            ns,
            body,
            dry_run="All",
            _content_type=MERGE,
        )
        changes = diff_objects(target, before, after)
        if ctx.dry_run:
            return StepResult(True, ctx.t("Dry run: patch {target}", target=target), changes)
        kube.raw(kube.core.patch_namespaced_config_map, name, ns, body, _content_type=MERGE)
    except KubeError as exc:
        raise _fail(exc, ctx, target) from exc
    return StepResult(True, ctx.t("Patched {target}", target=target), changes)


def _flag(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _patch_node(ctx: StepContext, node: str, unschedulable: bool) -> tuple[list[Change], JSONObj]:
    kube = ctx.require_kube()
    target = f"node {node}"
    body = {"spec": {"unschedulable": unschedulable}}
    try:
        before = kube.raw(kube.core.read_node, node)
        after = kube.raw(kube.core.patch_node, node, body, dry_run="All", _content_type=SMP)
        changes = diff_objects(target, before, after)
        if not ctx.dry_run:
            kube.raw(kube.core.patch_node, node, body, _content_type=SMP)
    except KubeError as exc:
        raise _fail(exc, ctx, target) from exc
    return changes, before


def cordon(ctx: StepContext, args: Mapping[str, Any]) -> StepResult:
    """Mark a node unschedulable (or schedulable again with `uncordon: true`)."""
    node = args["node"]
    unschedulable = not bool(args.get("uncordon", False))
    changes, _ = _patch_node(ctx, node, unschedulable)
    msgs = CORDON if unschedulable else UNCORDON
    return StepResult(True, ctx.t(msgs[0] if ctx.dry_run else msgs[1], node=node), changes)


def drain(ctx: StepContext, args: Mapping[str, Any]) -> StepResult:
    """Cordon a node, then evict its pods (DaemonSet and mirror pods stay, as kubectl does)."""
    kube = ctx.require_kube()
    node = args["node"]
    changes, _ = _patch_node(ctx, node, True)
    try:
        pods = kube.raw(
            kube.core.list_pod_for_all_namespaces, field_selector=f"spec.nodeName={node}"
        ).get("items", [])
    except KubeError as exc:
        raise _fail(exc, ctx, f"node {node}") from exc
    evicted: list[str] = []
    for pod in pods:
        meta = pod["metadata"]
        owners = meta.get("ownerReferences") or []
        if any(o.get("kind") == "DaemonSet" for o in owners):
            continue
        if "kubernetes.io/config.mirror" in (meta.get("annotations") or {}):
            continue
        pod_name = f"{meta['namespace']}/{meta['name']}"
        eviction = {
            "apiVersion": "policy/v1",
            "kind": "Eviction",
            "metadata": {"name": meta["name"], "namespace": meta["namespace"]},
        }
        if ctx.dry_run:
            eviction["deleteOptions"] = {"dryRun": ["All"]}
        try:
            kube.raw(
                kube.core.create_namespaced_pod_eviction,
                meta["name"],
                meta["namespace"],
                eviction,
                dry_run="All" if ctx.dry_run else None,
                _headers=JSON_HEADERS,
            )
        except KubeError as exc:
            raise _fail(exc, ctx, f"pod {pod_name}") from exc
        evicted.append(pod_name)
        changes.append(Change(f"pod {pod_name}", "status", "running", "evicted"))
    return StepResult(
        True,
        ctx.t(DRAIN[0] if ctx.dry_run else DRAIN[1], node=node, n=len(evicted)),
        changes,
        {"evicted": evicted},
    )


# kind -> (create method name on the API group, group attribute, namespaced)
CREATABLE = {
    "Namespace": ("create_namespace", "core", False),
    "ResourceQuota": ("create_namespaced_resource_quota", "core", True),
    "LimitRange": ("create_namespaced_limit_range", "core", True),
    "NetworkPolicy": ("create_namespaced_network_policy", "networking", True),
    "ConfigMap": ("create_namespaced_config_map", "core", True),
}


def create_objects(ctx: StepContext, args: Mapping[str, Any]) -> StepResult:
    """Create objects (Namespace, ResourceQuota, LimitRange, NetworkPolicy, ConfigMap) that do
    not exist yet; existing ones are left as they are (reported, never overwritten)."""
    kube = ctx.require_kube()
    changes: list[Change] = []
    created: list[str] = []
    for manifest in args["objects"]:
        kind = manifest.get("kind")
        if kind not in CREATABLE:
            raise StepFailed(ctx.t("create_objects cannot create a {kind}", kind=kind))
        method, group, namespaced = CREATABLE[kind]
        meta = manifest.get("metadata") or {}
        where = f"{meta.get('namespace')}/" if namespaced else ""
        target = f"{kind.lower()} {where}{meta.get('name')}"
        fn = getattr(getattr(kube, group), method)
        call_args = (meta["namespace"], manifest) if namespaced else (manifest,)
        try:
            # The generated client sends no Content-Type for these bodies; the API wants JSON.
            kube.raw(fn, *call_args, dry_run="All", _headers=JSON_HEADERS)
            if not ctx.dry_run:
                kube.raw(fn, *call_args, _headers=JSON_HEADERS)
        except KubeError as exc:
            if exc.kind == "exists":
                changes.append(Change(target, "state", "exists", "unchanged"))
                continue
            raise _fail(exc, ctx, target) from exc
        changes.append(Change(target, "state", "—", "created"))
        created.append(target)
    return StepResult(
        True,
        ctx.t(CREATE[0] if ctx.dry_run else CREATE[1], n=len(created)),
        changes,
        {"created": created},
    )


LABEL = (
    N_("Dry run: label {target} {key}={value}"),
    N_("Labeled {target} {key}={value}"),
)
# workload kind -> (read, patch) methods of AppsV1Api
WORKLOAD_METHODS = {
    "deployment": ("read_namespaced_deployment", "patch_namespaced_deployment"),
    "statefulset": ("read_namespaced_stateful_set", "patch_namespaced_stateful_set"),
    "daemonset": ("read_namespaced_daemon_set", "patch_namespaced_daemon_set"),
}


def label_workload(ctx: StepContext, args: Mapping[str, Any]) -> StepResult:
    """Set a label on a Deployment/StatefulSet/DaemonSet and on its pod template."""
    kind = str(args["kind"]).lower()
    if kind not in WORKLOAD_METHODS:
        raise StepFailed(ctx.t("label_workload cannot label a {kind}", kind=kind))
    ns, name = str(args["namespace"]), str(args["name"])
    key, value = str(args["key"]), str(args["value"])
    kube = ctx.require_kube()
    read, patch = (getattr(kube.apps, m) for m in WORKLOAD_METHODS[kind])
    target = f"{kind} {ns}/{name}"
    try:
        before = kube.raw(read, name, ns)
        body = {
            "metadata": {**_guard(before), "labels": {key: value}},
            "spec": {"template": {"metadata": {"labels": {key: value}}}},
        }
        kube.raw(patch, name, ns, body, dry_run="All", _content_type=MERGE)
        old = (before.get("metadata", {}).get("labels") or {}).get(key, "—")
        changes = [Change(target, f"label {key}", str(old), value)]
        if ctx.dry_run:
            return StepResult(True, ctx.t(LABEL[0], target=target, key=key, value=value), changes)
        applied = kube.raw(patch, name, ns, body, _content_type=MERGE)
    except KubeError as exc:
        raise _fail(exc, ctx, target) from exc
    return StepResult(
        True,
        ctx.t(LABEL[1], target=target, key=key, value=value),
        changes,
        {"resourceVersion": applied.get("metadata", {}).get("resourceVersion")},
    )


DELETE_NS = (
    N_("Dry run: delete namespace {ns} and everything in it"),
    N_("Deleted namespace {ns}"),
)


def _expiry_passed(ctx: StepContext, ns: str, annotations: Mapping[str, Any], key: str) -> None:
    """Refuse unless the namespace's own expiry annotation (ISO 8601, UTC) has passed."""
    raw = str(annotations.get(key) or "")
    try:
        at = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise StepFailed(
            ctx.t(
                "Refusing to delete namespace {ns}: it has no valid {key} annotation.",
                ns=ns,
                key=key,
            )
        ) from None
    if at.tzinfo is None:
        at = at.replace(tzinfo=UTC)
    if ctx.now() < at:
        raise StepFailed(
            ctx.t(
                "Refusing to delete namespace {ns}: it expires at {at}.",
                ns=ns,
                at=at.strftime("%Y-%m-%d %H:%M UTC"),
            )
        )


def delete_namespace(ctx: StepContext, args: Mapping[str, Any]) -> StepResult:
    """Delete a namespace, only if it carries every label of `require_labels` (and, with
    `expiry_annotation`, only once the time in that annotation has passed). The delete is
    guarded by the namespace's uid and resourceVersion, so a namespace re-created or relabeled
    after the check is not deleted. A namespace that is already gone counts as done."""
    kube = ctx.require_kube()
    ns = str(args["namespace"])
    required = {str(k): str(v) for k, v in dict(args.get("require_labels") or {}).items()}
    if not required:
        raise StepFailed(ctx.t("delete_namespace needs require_labels (it never deletes blindly)"))
    target = f"namespace {ns}"
    try:
        before = kube.raw(kube.core.read_namespace, ns)
    except KubeError as exc:
        if exc.kind == "not_found":
            return StepResult(
                True, ctx.t("Namespace {ns} is already gone", ns=ns), [], {"deleted": False}
            )
        raise _fail(exc, ctx, target) from exc
    meta = before.get("metadata") or {}
    labels = meta.get("labels") or {}
    wrong = sorted(k for k, v in required.items() if labels.get(k) != v)
    if wrong:
        raise StepFailed(
            ctx.t(
                "Refusing to delete namespace {ns}: it is not labeled {labels}.",
                ns=ns,
                labels=", ".join(f"{k}={required[k]}" for k in wrong),
            )
        )
    if args.get("expiry_annotation"):
        _expiry_passed(ctx, ns, meta.get("annotations") or {}, str(args["expiry_annotation"]))
    if (before.get("status") or {}).get("phase") == "Terminating":
        return StepResult(
            True, ctx.t("Namespace {ns} is already being deleted", ns=ns), [], {"deleted": False}
        )
    body = {
        "apiVersion": "v1",
        "kind": "DeleteOptions",
        "preconditions": {"uid": meta.get("uid"), "resourceVersion": meta.get("resourceVersion")},
    }
    changes = [Change(target, "state", "active", "deleted")]
    try:
        kube.raw(kube.core.delete_namespace, ns, body=body, dry_run="All", _headers=JSON_HEADERS)
        if ctx.dry_run:
            return StepResult(True, ctx.t(DELETE_NS[0], ns=ns), changes)
        kube.raw(kube.core.delete_namespace, ns, body=body, _headers=JSON_HEADERS)
    except KubeError as exc:
        raise _fail(exc, ctx, target) from exc
    return StepResult(True, ctx.t(DELETE_NS[1], ns=ns), changes, {"deleted": True})
