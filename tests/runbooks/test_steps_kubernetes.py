from __future__ import annotations

import pytest

from bot.clients.kubernetes import KubeClient
from runbooks.steps import KINDS, StepContext, StepFailed
from tests.fakes.kubernetes import FakeCluster

APPS = "/apis/apps/v1"


def dep(cluster: FakeCluster, ns: str = "shop", name: str = "cart") -> dict:
    return cluster.get(APPS, "deployments", ns, name)


def run(kube: KubeClient, kind: str, dry_run: bool = False, **args: object):
    return KINDS[kind].run(StepContext(kube=kube, dry_run=dry_run), args)


def test_scale_dry_run_changes_nothing_and_shows_the_diff(
    kube: KubeClient, cluster: FakeCluster
) -> None:
    result = run(kube, "scale", dry_run=True, namespace="shop", deployment="cart", replicas=5)
    assert [c.render() for c in result.changes] == ["deployment shop/cart: replicas 3 → 5"]
    assert dep(cluster)["spec"]["replicas"] == 3
    patches = [r for r in cluster.requests if r.method == "PATCH"]
    assert len(patches) == 1 and patches[0].query == {"dryRun": "All"}


def test_scale_applies_after_a_dry_run(kube: KubeClient, cluster: FakeCluster) -> None:
    result = run(kube, "scale", namespace="shop", deployment="cart", replicas=5)
    assert result.ok and dep(cluster)["spec"]["replicas"] == 5
    patches = [r for r in cluster.requests if r.method == "PATCH"]
    assert [p.query for p in patches] == [{"dryRun": "All"}, {}]
    assert patches[1].content_type == "application/strategic-merge-patch+json"
    assert patches[1].body["metadata"]["resourceVersion"]  # optimistic concurrency guard


def test_set_image_merges_the_container_by_name(kube: KubeClient, cluster: FakeCluster) -> None:
    result = run(kube, "set_image", namespace="shop", deployment="cart", image="reg/cart:1.5.0")
    assert [c.render() for c in result.changes] == [
        "deployment shop/cart: image of cart reg/cart:1.4.0 → reg/cart:1.5.0"
    ]
    containers = dep(cluster)["spec"]["template"]["spec"]["containers"]
    assert containers == [{"name": "cart", "image": "reg/cart:1.5.0"}]
    assert dep(cluster)["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "2"


def test_set_image_unknown_container(kube: KubeClient) -> None:
    with pytest.raises(StepFailed, match="no container sidecar"):
        run(kube, "set_image", namespace="shop", deployment="cart", container="sidecar", image="x")


def test_rollout_restart_sets_restarted_at(kube: KubeClient, cluster: FakeCluster) -> None:
    result = run(kube, "rollout_restart", namespace="shop", deployment="checkout")
    ann = dep(cluster, name="checkout")["spec"]["template"]["metadata"]["annotations"]
    assert "kubectl.kubernetes.io/restartedAt" in ann
    assert result.changes[0].field == "kubectl.kubernetes.io/restartedAt"


def test_rollback_goes_to_the_previous_revision(kube: KubeClient, cluster: FakeCluster) -> None:
    run(kube, "set_image", namespace="shop", deployment="cart", image="reg/cart:1.5.0")
    run(kube, "set_image", namespace="shop", deployment="cart", image="reg/cart:1.6.0")
    dry = run(kube, "rollback", dry_run=True, namespace="shop", deployment="cart")
    assert [c.render() for c in dry.changes] == [
        "deployment shop/cart: image of cart reg/cart:1.6.0 → reg/cart:1.5.0"
    ]
    result = run(kube, "rollback", namespace="shop", deployment="cart")
    assert result.output["revision"] == "2"
    d = dep(cluster)
    assert d["spec"]["template"]["spec"]["containers"][0]["image"] == "reg/cart:1.5.0"
    # As the controller does, the reused ReplicaSet gets the next revision number.
    assert d["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "4"
    patch = [r for r in cluster.requests if r.method == "PATCH"][-1]
    assert patch.content_type == "application/json-patch+json"
    # An explicit revision
    run(kube, "rollback", namespace="shop", deployment="cart", to_revision=1)
    assert dep(cluster)["spec"]["template"]["spec"]["containers"][0]["image"].endswith("cart:1.4.0")


def test_rollback_without_history(kube: KubeClient) -> None:
    with pytest.raises(StepFailed, match="no previous revision"):
        run(kube, "rollback", namespace="shop", deployment="checkout")


def test_patch_configmap_feature_flag(kube: KubeClient, cluster: FakeCluster) -> None:
    result = run(
        kube,
        "patch_configmap",
        namespace="shop",
        configmap="feature-flags",
        data={"new_checkout": True},
    )
    assert [c.render() for c in result.changes] == [
        "configmap shop/feature-flags: key new_checkout false → true"
    ]
    data = cluster.get("/api/v1", "configmaps", "shop", "feature-flags")["data"]
    assert data == {"new_checkout": "true", "dark_mode": "true"}


def test_cordon_and_uncordon(kube: KubeClient, cluster: FakeCluster) -> None:
    result = run(kube, "cordon", node="node-b")
    assert cluster.get("/api/v1", "nodes", "", "node-b")["spec"]["unschedulable"] is True
    assert result.changes[0].render() == "node node-b: unschedulable false → true"
    run(kube, "cordon", node="node-b", uncordon=True)
    assert cluster.get("/api/v1", "nodes", "", "node-b")["spec"]["unschedulable"] is False


def test_drain_dry_run_then_real(kube: KubeClient, cluster: FakeCluster) -> None:
    dry = run(kube, "drain", dry_run=True, node="node-a")
    assert dry.output["evicted"] == ["shop/cart-1", "shop/checkout-1"]
    assert len(cluster.list("/api/v1", "pods")) == 4
    assert not cluster.get("/api/v1", "nodes", "", "node-a")["spec"].get("unschedulable")
    real = run(kube, "drain", node="node-a")
    assert real.output["evicted"] == ["shop/cart-1", "shop/checkout-1"]
    left = sorted(p["metadata"]["name"] for p in cluster.list("/api/v1", "pods"))
    assert left == ["cart-2", "node-exporter-x"]  # DaemonSet pods stay
    assert cluster.get("/api/v1", "nodes", "", "node-a")["spec"]["unschedulable"] is True


def test_not_found_message(kube: KubeClient) -> None:
    with pytest.raises(StepFailed) as info:
        run(kube, "scale", namespace="shop", deployment="basket", replicas=1)
    assert info.value.message == (
        "deployment shop/basket does not exist (404 Not Found); check the namespace and name."
    )


def test_forbidden_message(kube: KubeClient, cluster: FakeCluster) -> None:
    cluster.fail(
        "PATCH",
        "/deployments/cart",
        403,
        reason="Forbidden",
        message='deployments.apps "cart" is forbidden: User "system:serviceaccount:ops:copilot" '
        'cannot patch resource "deployments"',
    )
    with pytest.raises(StepFailed) as info:
        run(kube, "scale", namespace="shop", deployment="cart", replicas=1)
    assert "not allowed to change deployment shop/cart (403 Forbidden)" in info.value.message
    assert "cannot patch resource" in info.value.message


def test_conflict_when_the_object_changed_in_between(
    kube: KubeClient, cluster: FakeCluster
) -> None:
    # Another client updates the deployment right after each of the bot's reads.
    cluster.after(
        "GET", "/deployments/cart", lambda c: c.touch(APPS, "deployments", "shop", "cart")
    )
    with pytest.raises(StepFailed) as info:
        run(kube, "scale", namespace="shop", deployment="cart", replicas=9)
    assert "changed by someone else" in info.value.message
    assert "(409 Conflict)" in info.value.message
    assert dep(cluster)["spec"]["replicas"] == 3


def test_timeout_message(kube: KubeClient, cluster: FakeCluster) -> None:
    cluster.fail("GET", "/deployments/cart", 200, delay=4.0, times=5)
    with pytest.raises(StepFailed) as info:
        run(kube, "scale", namespace="shop", deployment="cart", replicas=1)
    assert "did not answer in time for deployment shop/cart" in info.value.message


def test_no_cluster_configured() -> None:
    with pytest.raises(StepFailed, match="No Kubernetes cluster"):
        KINDS["scale"].run(
            StepContext(kube=None), {"namespace": "a", "deployment": "b", "replicas": 1}
        )


def test_partner_sandbox_creates_labeled_objects_once(
    kube: KubeClient, cluster: FakeCluster
) -> None:
    from runbooks.catalog import load_catalog
    from runbooks.params import validate_params
    from runbooks.templating import render

    rb = load_catalog()["partner-sandbox"]
    values, errors = validate_params(rb, {"partner": "acme"})
    assert errors == []
    args = render(rb.steps[0].args, values)
    dry = KINDS["create_objects"].run(StepContext(kube=kube, dry_run=True), args)
    assert next(c.render() for c in dry.changes) == "namespace partner-acme: state — → created"
    assert cluster.list("/api/v1", "namespaces") == []
    KINDS["create_objects"].run(StepContext(kube=kube), args)
    ns = cluster.get("/api/v1", "namespaces", "", "partner-acme")
    assert ns["metadata"]["labels"]["copilot.example/partner"] == "acme"
    quota = cluster.get("/api/v1", "resourcequotas", "partner-acme", "sandbox-quota")
    assert quota["spec"]["hard"] == {"requests.cpu": "4", "requests.memory": "8Gi", "pods": "20"}
    netpol = cluster.get(
        "/apis/networking.k8s.io/v1", "networkpolicies", "partner-acme", "sandbox-isolation"
    )
    assert netpol["metadata"]["labels"] == {"copilot.example/partner": "acme"}
    again = KINDS["create_objects"].run(StepContext(kube=kube), args)
    assert again.output["created"] == []
    assert {c.after for c in again.changes} == {"unchanged"}


SANDBOX = {"copilot.example/sandbox": "true", "copilot.example/partner": "acme"}
EXPIRES = "copilot.example/expires-at"


def _sandbox_ns(cluster: FakeCluster, name: str, labels: dict, expires: str | None) -> None:
    meta: dict = {"name": name, "labels": dict(labels)}
    if expires is not None:
        meta["annotations"] = {EXPIRES: expires}
    cluster.add("/api/v1", "namespaces", {"metadata": meta})
    cluster.add(
        "/api/v1",
        "resourcequotas",
        {"metadata": {"name": "sandbox-quota", "namespace": name}, "spec": {"hard": {}}},
    )


def _delete(kube: KubeClient, ns: str, *, dry_run: bool = False, expiry: bool = True) -> object:
    from datetime import UTC, datetime

    ctx = StepContext(kube=kube, dry_run=dry_run, now=lambda: datetime(2026, 12, 1, tzinfo=UTC))
    args: dict = {"namespace": ns, "require_labels": SANDBOX}
    if expiry:
        args["expiry_annotation"] = EXPIRES
    return KINDS["delete_namespace"].run(ctx, args)


def test_delete_namespace_dry_run_then_delete_with_preconditions(
    kube: KubeClient, cluster: FakeCluster
) -> None:
    _sandbox_ns(cluster, "partner-acme", SANDBOX, "2026-11-30T00:00:00Z")
    dry = _delete(kube, "partner-acme", dry_run=True)
    assert [c.render() for c in dry.changes] == ["namespace partner-acme: state active → deleted"]
    assert cluster.get("/api/v1", "namespaces", "", "partner-acme")
    done = _delete(kube, "partner-acme")
    assert done.output == {"deleted": True}
    assert cluster.list("/api/v1", "namespaces") == []
    assert cluster.list("/api/v1", "resourcequotas", "partner-acme") == []  # contents go too
    deletes = [r for r in cluster.requests if r.method == "DELETE"]
    assert [d.query for d in deletes] == [{"dryRun": "All"}, {"dryRun": "All"}, {}]
    assert set(deletes[2].body["preconditions"]) == {"uid", "resourceVersion"}
    again = _delete(kube, "partner-acme")  # already gone: done, nothing sent
    assert again.output == {"deleted": False} and "already gone" in again.summary
    assert len([r for r in cluster.requests if r.method == "DELETE"]) == 3


@pytest.mark.parametrize(
    ("labels", "expires", "message"),
    [
        ({"copilot.example/partner": "acme"}, "2026-11-30T00:00:00Z", "is not labeled"),
        ({**SANDBOX, "copilot.example/partner": "other"}, "2026-11-30T00:00:00Z", "not labeled"),
        (SANDBOX, "2026-12-02T00:00:00Z", "it expires at 2026-12-02 00:00 UTC"),
        (SANDBOX, None, "has no valid copilot.example/expires-at annotation"),
        (SANDBOX, "", "has no valid copilot.example/expires-at annotation"),
    ],
)
def test_delete_namespace_refuses_unlabeled_or_unexpired(
    kube: KubeClient, cluster: FakeCluster, labels: dict, expires: str | None, message: str
) -> None:
    _sandbox_ns(cluster, "partner-acme", labels, expires)
    with pytest.raises(StepFailed, match=message):
        _delete(kube, "partner-acme")
    assert cluster.get("/api/v1", "namespaces", "", "partner-acme")
    assert not [r for r in cluster.requests if r.method == "DELETE"]


def test_delete_namespace_needs_labels_and_notices_a_replaced_namespace(
    kube: KubeClient, cluster: FakeCluster
) -> None:
    _sandbox_ns(cluster, "partner-acme", SANDBOX, None)
    with pytest.raises(StepFailed, match="needs require_labels"):
        KINDS["delete_namespace"].run(
            StepContext(kube=kube), {"namespace": "partner-acme", "require_labels": {}}
        )
    # the namespace changes between the check and the delete: the precondition fails (409)
    cluster.after(
        "GET",
        "/namespaces/partner-acme",
        lambda c: c.touch("/api/v1", "namespaces", "", "partner-acme"),
    )
    with pytest.raises(StepFailed, match="409 Conflict"):
        _delete(kube, "partner-acme", expiry=False)
    assert cluster.get("/api/v1", "namespaces", "", "partner-acme")
