"""An emulated Kubernetes API server (aiohttp) for tests and the demo cluster.

Unlike kmock's emulator it honours what runbooks depend on: ``dryRun=All`` (compute, never
store), ``metadata.resourceVersion`` conflicts (409), strategic-merge patches of container
lists (merged by name), JSON merge patches, Deployment -> ReplicaSet revision history (a new
pod template makes a new ReplicaSet with the next ``deployment.kubernetes.io/revision``; a
template equal to an old ReplicaSet's reuses it with a new revision, as the controller does),
pod eviction, and injected faults (403, 404, 409, 5xx, slow responses). Every request is
recorded so tests can check its shape against the OpenAPI spec.
"""

from __future__ import annotations

import asyncio
import copy
import json
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web

REVISION = "deployment.kubernetes.io/revision"
JSON = dict[str, Any]

# (api prefix, plural) -> (kind, namespaced)
KINDS: dict[tuple[str, str], tuple[str, bool]] = {
    ("/apis/apps/v1", "deployments"): ("Deployment", True),
    ("/apis/apps/v1", "replicasets"): ("ReplicaSet", True),
    ("/apis/apps/v1", "statefulsets"): ("StatefulSet", True),
    ("/apis/apps/v1", "daemonsets"): ("DaemonSet", True),
    ("/api/v1", "configmaps"): ("ConfigMap", True),
    ("/api/v1", "pods"): ("Pod", True),
    ("/api/v1", "nodes"): ("Node", False),
    ("/api/v1", "namespaces"): ("Namespace", False),
    ("/api/v1", "resourcequotas"): ("ResourceQuota", True),
    ("/api/v1", "limitranges"): ("LimitRange", True),
    ("/apis/networking.k8s.io/v1", "networkpolicies"): ("NetworkPolicy", True),
}
API_VERSION = {"/api/v1": "v1", "/apis/apps/v1": "apps/v1"}


@dataclass
class Recorded:
    method: str
    path: str
    query: dict[str, str]
    content_type: str
    body: Any


@dataclass
class Fault:
    method: str
    path_contains: str
    status: int
    reason: str
    message: str
    times: int = 1
    delay: float = 0.0


@dataclass
class FakeCluster:
    """The in-memory state; thread-safe enough for one aiohttp loop plus test assertions."""

    objects: dict[tuple[str, str, str, str], JSON] = field(default_factory=dict)
    requests: list[Recorded] = field(default_factory=list)
    faults: list[Fault] = field(default_factory=list)
    hooks: list[tuple[str, str, Any]] = field(default_factory=list)
    rv: int = 100

    # ---- seeding helpers -------------------------------------------------------------
    def add(self, prefix: str, plural: str, obj: JSON) -> JSON:
        """Store an object (plus metadata defaults); a Deployment gets its first ReplicaSet."""
        kind, namespaced = KINDS[(prefix, plural)]
        meta = obj.setdefault("metadata", {})
        ns = meta.get("namespace", "default") if namespaced else ""
        if namespaced:
            meta["namespace"] = ns
        obj.setdefault("kind", kind)
        obj.setdefault("apiVersion", API_VERSION.get(prefix, prefix.removeprefix("/apis/")))
        meta.setdefault("uid", str(uuid.uuid4()))
        meta.setdefault("generation", 1)
        meta.setdefault("creationTimestamp", "2026-01-01T00:00:00Z")
        self.rv += 1
        meta["resourceVersion"] = str(self.rv)
        self.objects[(prefix, plural, ns, meta["name"])] = obj
        if kind == "Deployment":
            self._reconcile_deployment(obj)
        return obj

    def deployment(
        self, ns: str, name: str, *, image: str, replicas: int = 2, labels: JSON | None = None
    ) -> JSON:
        """Seed a Deployment with one container named after it."""
        labels = labels or {"app": name}
        return self.add(
            "/apis/apps/v1",
            "deployments",
            {
                "metadata": {"name": name, "namespace": ns, "labels": dict(labels)},
                "spec": {
                    "replicas": replicas,
                    "selector": {"matchLabels": dict(labels)},
                    "template": {
                        "metadata": {"labels": dict(labels)},
                        "spec": {"containers": [{"name": name, "image": image}]},
                    },
                },
            },
        )

    def roll_out(self, ns: str, name: str, image: str) -> None:
        """Change a Deployment's image as a CI/CD pipeline would (new ReplicaSet revision)."""
        dep = self.get("/apis/apps/v1", "deployments", ns, name)
        dep["spec"]["template"]["spec"]["containers"][0]["image"] = image
        dep["metadata"]["generation"] = dep["metadata"].get("generation", 1) + 1
        self.rv += 1
        dep["metadata"]["resourceVersion"] = str(self.rv)
        self._reconcile_deployment(dep)

    def get(self, prefix: str, plural: str, ns: str, name: str) -> JSON:
        return self.objects[(prefix, plural, ns, name)]

    def list(self, prefix: str, plural: str, ns: str | None = None) -> list[JSON]:
        return [
            o
            for (p, pl, n, _), o in sorted(self.objects.items())
            if p == prefix and pl == plural and (ns is None or n == ns)
        ]

    def fail(
        self,
        method: str,
        path_contains: str,
        status: int,
        *,
        reason: str = "",
        message: str = "",
        times: int = 1,
        delay: float = 0.0,
    ) -> None:
        """Make the next `times` matching requests fail with `status` (after `delay` seconds)."""
        self.faults.append(
            Fault(method.upper(), path_contains, status, reason, message, times, delay)
        )

    def after(self, method: str, path_contains: str, fn: Any) -> None:
        """Call `fn(cluster)` after each matching request is served (simulates other writers)."""
        self.hooks.append((method.upper(), path_contains, fn))

    def touch(self, prefix: str, plural: str, ns: str, name: str) -> None:
        """Another client updated the object: bump its resourceVersion."""
        self.rv += 1
        self.objects[(prefix, plural, ns, name)]["metadata"]["resourceVersion"] = str(self.rv)

    # ---- controller behaviour ---------------------------------------------------------
    def _reconcile_deployment(self, dep: JSON) -> None:
        ns = dep["metadata"]["namespace"]
        name = dep["metadata"]["name"]
        owned = [
            rs
            for rs in self.list("/apis/apps/v1", "replicasets", ns)
            if any(
                o.get("uid") == dep["metadata"]["uid"]
                for o in rs["metadata"].get("ownerReferences", [])
            )
        ]
        template = dep["spec"]["template"]
        revs = [int(rs["metadata"].get("annotations", {}).get(REVISION, "0")) for rs in owned]
        current = next(
            (rs for rs in owned if _same_template(rs["spec"]["template"], template)), None
        )
        top = max(revs, default=0)
        if current is None:
            self.rv += 1
            rs_name = f"{name}-{uuid.uuid4().hex[:10]}"
            current = {
                "apiVersion": "apps/v1",
                "kind": "ReplicaSet",
                "metadata": {
                    "name": rs_name,
                    "namespace": ns,
                    "uid": str(uuid.uuid4()),
                    "resourceVersion": str(self.rv),
                    "labels": dict(template.get("metadata", {}).get("labels", {})),
                    "annotations": {REVISION: str(top + 1)},
                    "ownerReferences": [
                        {
                            "apiVersion": "apps/v1",
                            "kind": "Deployment",
                            "name": name,
                            "uid": dep["metadata"]["uid"],
                            "controller": True,
                        }
                    ],
                },
                "spec": {
                    "replicas": dep["spec"].get("replicas", 1),
                    "selector": copy.deepcopy(dep["spec"]["selector"]),
                    "template": copy.deepcopy(template),
                },
            }
            self.objects[("/apis/apps/v1", "replicasets", ns, rs_name)] = current
        else:
            cur_rev = int(current["metadata"].get("annotations", {}).get(REVISION, "0"))
            if cur_rev != top:
                current["metadata"].setdefault("annotations", {})[REVISION] = str(top + 1)
        rev = current["metadata"]["annotations"][REVISION]
        for rs in owned:
            if rs is not current:
                rs["spec"]["replicas"] = 0
        current["spec"]["replicas"] = dep["spec"].get("replicas", 1)
        dep["metadata"].setdefault("annotations", {})[REVISION] = rev
        replicas = dep["spec"].get("replicas", 1)
        dep["status"] = {
            "observedGeneration": dep["metadata"].get("generation", 1),
            "replicas": replicas,
            "updatedReplicas": replicas,
            "readyReplicas": replicas,
            "availableReplicas": replicas,
        }


def _same_template(a: JSON, b: JSON) -> bool:
    return json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386 JSON merge patch."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = copy.deepcopy(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def strategic_merge_patch(target: Any, patch: Any) -> Any:
    """Strategic merge: like a merge patch, but lists of named objects merge by `name`."""
    if isinstance(patch, list) and isinstance(target, list):
        if all(isinstance(x, dict) and "name" in x for x in [*patch, *target]):
            out = copy.deepcopy(target)
            for item in patch:
                idx = next((i for i, o in enumerate(out) if o["name"] == item["name"]), None)
                if item.get("$patch") == "delete":
                    if idx is not None:
                        out.pop(idx)
                elif idx is None:
                    out.append(copy.deepcopy(item))
                else:
                    out[idx] = strategic_merge_patch(out[idx], item)
            return out
        return copy.deepcopy(patch)
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    if patch.get("$patch") == "replace":
        return {k: v for k, v in copy.deepcopy(patch).items() if k != "$patch"}
    result = copy.deepcopy(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = strategic_merge_patch(result.get(key), value)
    return result


def json_patch(target: Any, ops: list[JSON]) -> Any:
    """RFC 6902 JSON patch (add, replace, remove, test)."""
    doc = copy.deepcopy(target)
    for op in ops:
        parts = [p.replace("~1", "/").replace("~0", "~") for p in op["path"].split("/")[1:]]
        parent = doc
        for part in parts[:-1]:
            parent = parent[int(part)] if isinstance(parent, list) else parent[part]
        last = parts[-1]
        kind = op["op"]
        if kind == "test":
            cur = parent[int(last)] if isinstance(parent, list) else parent[last]
            if cur != op["value"]:
                raise ValueError(f"test failed at {op['path']}")
        elif kind in ("add", "replace"):
            if isinstance(parent, list):
                idx = len(parent) if last == "-" else int(last)
                if kind == "add":
                    parent.insert(idx, copy.deepcopy(op["value"]))
                else:
                    parent[idx] = copy.deepcopy(op["value"])
            else:
                if kind == "replace" and last not in parent:
                    raise KeyError(op["path"])
                parent[last] = copy.deepcopy(op["value"])
        elif kind == "remove":
            if isinstance(parent, list):
                parent.pop(int(last))
            else:
                del parent[last]
        else:
            raise ValueError(f"unsupported op {kind}")
    return doc


def _status(code: int, reason: str, message: str) -> web.Response:
    body = {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": code,
    }
    return web.json_response(body, status=code)


def _split(path: str) -> tuple[str, list[str]] | None:
    for prefix in ("/apis/apps/v1", "/apis/networking.k8s.io/v1", "/api/v1"):
        if path == prefix or path.startswith(prefix + "/"):
            return prefix, [s for s in path[len(prefix) :].split("/") if s]
    return None


def _matches_labels(obj: JSON, selector: str) -> bool:
    labels = obj.get("metadata", {}).get("labels", {}) or {}
    for term in filter(None, selector.split(",")):
        key, _, value = term.partition("=")
        if labels.get(key.strip()) != value.strip().lstrip("="):
            return False
    return True


def _matches_fields(obj: JSON, selector: str) -> bool:
    for term in filter(None, selector.split(",")):
        key, _, value = term.partition("=")
        cur: Any = obj
        for part in key.strip().split("."):
            cur = cur.get(part) if isinstance(cur, dict) else None
        if str(cur) != value.strip():
            return False
    return True


class FakeKubeServer:
    """Runs a FakeCluster behind aiohttp on 127.0.0.1:<free port> in a background thread."""

    def __init__(self, cluster: FakeCluster | None = None, *, token: str = "fake-token") -> None:
        self.cluster = cluster or FakeCluster()
        self.token = token
        self.port = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> FakeKubeServer:
        ready = threading.Event()

        def run() -> None:
            self._loop = asyncio.new_event_loop()
            asyncio.set_event_loop(self._loop)
            app = web.Application()
            app.router.add_route("*", "/{tail:.*}", self._handle)
            self._runner = web.AppRunner(app)
            self._loop.run_until_complete(self._runner.setup())
            site = web.TCPSite(self._runner, "127.0.0.1", 0)
            self._loop.run_until_complete(site.start())
            self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
            ready.set()
            self._loop.run_forever()
            self._loop.run_until_complete(self._runner.cleanup())
            self._loop.close()

        self._thread = threading.Thread(target=run, name="fake-kube", daemon=True)
        self._thread.start()
        ready.wait(10)
        return self

    def stop(self) -> None:
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
        if self._thread is not None:
            self._thread.join(10)

    def write_kubeconfig(self, path: Path, *, namespace: str = "default") -> Path:
        """Write a kubeconfig that points the real client at this server."""
        import yaml

        cfg = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "fake", "cluster": {"server": self.url}}],
            "users": [{"name": "fake", "user": {"token": self.token}}],
            "contexts": [
                {
                    "name": "fake",
                    "context": {"cluster": "fake", "user": "fake", "namespace": namespace},
                }
            ],
            "current-context": "fake",
        }
        path.write_text(yaml.safe_dump(cfg))
        return path

    # ---- request handling --------------------------------------------------------------
    async def _handle(self, request: web.Request) -> web.StreamResponse:
        raw = await request.read()
        body: Any = json.loads(raw) if raw else None
        query = dict(request.query)
        rec = Recorded(
            request.method, request.path, query, request.headers.get("Content-Type", ""), body
        )
        self.cluster.requests.append(rec)
        if request.headers.get("Authorization") != f"Bearer {self.token}":
            return _status(401, "Unauthorized", "Unauthorized")
        for fault in list(self.cluster.faults):
            if fault.method in (request.method, "*") and fault.path_contains in request.path:
                fault.times -= 1
                if fault.times <= 0:
                    self.cluster.faults.remove(fault)
                if fault.delay:
                    await asyncio.sleep(fault.delay)
                return _status(fault.status, fault.reason, fault.message or fault.reason)
        with self._lock:
            resp = self._dispatch(request.method, request.path, query, request.content_type, body)
            for method, part, fn in self.cluster.hooks:
                if method in (request.method, "*") and part in request.path:
                    fn(self.cluster)
            return resp

    def _dispatch(
        self, method: str, path: str, query: dict[str, str], ctype: str, body: Any
    ) -> web.Response:
        c = self.cluster
        split = _split(path)
        if split is None:
            return _status(
                404, "NotFound", f"the server could not find the requested resource ({path})"
            )
        prefix, segs = split
        ns: str | None = ""
        if len(segs) >= 3 and segs[0] == "namespaces":
            ns, segs = segs[1], segs[2:]
        if not segs or (prefix, segs[0]) not in KINDS:
            return _status(
                404, "NotFound", f"the server could not find the requested resource ({path})"
            )
        plural = segs[0]
        kind, namespaced = KINDS[(prefix, plural)]
        name = segs[1] if len(segs) > 1 else None
        sub = segs[2] if len(segs) > 2 else None
        dry = query.get("dryRun") == "All"
        if name is None:
            if method == "GET":
                items = c.list(prefix, plural, ns if ns else None)
                if "labelSelector" in query:
                    items = [o for o in items if _matches_labels(o, query["labelSelector"])]
                if "fieldSelector" in query:
                    items = [o for o in items if _matches_fields(o, query["fieldSelector"])]
                return web.json_response(
                    {
                        "kind": f"{kind}List",
                        "apiVersion": API_VERSION.get(prefix, prefix.removeprefix("/apis/")),
                        "metadata": {"resourceVersion": str(c.rv)},
                        "items": items,
                    }
                )
            if method == "POST":
                obj = copy.deepcopy(body)
                key_ns = ns if namespaced else ""
                oname = obj.get("metadata", {}).get("name")
                if (prefix, plural, key_ns, oname) in c.objects:
                    return _status(409, "AlreadyExists", f'{plural} "{oname}" already exists')
                if namespaced:
                    obj["metadata"]["namespace"] = key_ns
                if dry:
                    obj.setdefault("kind", kind)
                    return web.json_response(obj, status=201)
                return web.json_response(c.add(prefix, plural, obj), status=201)
            return _status(405, "MethodNotAllowed", "method not allowed")
        key = (prefix, plural, ns if namespaced else "", name)
        if sub == "eviction" and method == "POST":
            if key not in c.objects:
                return _status(404, "NotFound", f'pods "{name}" not found')
            if not dry:
                del c.objects[key]
            return web.json_response(
                {"kind": "Status", "apiVersion": "v1", "status": "Success"}, status=201
            )
        if key not in c.objects:
            group = prefix.split("/")[2] if prefix.startswith("/apis/") else ""
            res = f"{plural}.{group}" if group else plural
            return _status(404, "NotFound", f'{res} "{name}" not found')
        current = c.objects[key]
        if method == "GET":
            return web.json_response(current)
        if method == "DELETE":
            pre = (body or {}).get("preconditions") or {}
            meta = current["metadata"]
            for field_name in ("uid", "resourceVersion"):
                if pre.get(field_name) and pre[field_name] != meta.get(field_name):
                    return _status(
                        409,
                        "Conflict",
                        f"Precondition failed: {field_name} in precondition: {pre[field_name]}, "
                        f"{field_name} in object meta: {meta.get(field_name)}",
                    )
            if not dry:
                del c.objects[key]
                if kind == "Namespace":  # the namespace controller deletes what it contained
                    for obj_key in [k for k in c.objects if k[2] == name and k[1] != plural]:
                        del c.objects[obj_key]
            return web.json_response({"kind": "Status", "apiVersion": "v1", "status": "Success"})
        if method in ("PATCH", "PUT"):
            if method == "PUT":
                updated = copy.deepcopy(body)
            elif ctype == "application/strategic-merge-patch+json":
                updated = strategic_merge_patch(current, body)
            elif ctype == "application/merge-patch+json":
                updated = merge_patch(current, body)
            elif ctype == "application/json-patch+json":
                try:
                    updated = json_patch(current, body)
                except (KeyError, IndexError, ValueError) as exc:
                    return _status(422, "Invalid", f"json patch: {exc}")
            else:
                return _status(415, "UnsupportedMediaType", f"unsupported patch type {ctype}")
            want_rv = updated.get("metadata", {}).get("resourceVersion")
            if want_rv and want_rv != current["metadata"]["resourceVersion"]:
                return _status(
                    409,
                    "Conflict",
                    f'Operation cannot be fulfilled on {plural} "{name}": the object has been '
                    "modified; please apply your changes to the latest version and try again",
                )
            updated["metadata"]["resourceVersion"] = current["metadata"]["resourceVersion"]
            if updated.get("spec") != current.get("spec"):
                updated["metadata"]["generation"] = current["metadata"].get("generation", 1) + 1
            if dry:
                return web.json_response(updated)
            c.rv += 1
            updated["metadata"]["resourceVersion"] = str(c.rv)
            c.objects[key] = updated
            if kind == "Deployment":
                c._reconcile_deployment(updated)
            return web.json_response(updated)
        return _status(405, "MethodNotAllowed", "method not allowed")


def wait_until(predicate: Any, timeout: float = 5.0) -> bool:
    """Poll `predicate` until true (helper for tests of background work)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.01)
    return bool(predicate())
