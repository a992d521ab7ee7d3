"""The copilot's tools: read-only reads of Prometheus, Alertmanager, Kubernetes, incidents,
billing and the runbook catalog, plus `propose_runbook`, which only creates an approval request.

Every input is validated against the tool's JSON schema here (the model's arguments are never
trusted; streaming turns malformed JSON into ``{}``); every result is redacted and size-limited
before it goes back to the model. Nothing here can change a cluster: Kubernetes calls are
list/read only, and Secrets are never read.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import jsonschema
from sqlalchemy.engine import Engine
from sqlmodel import select

from bot.redact import redact
from runbooks.runs import Requester, RunView

Json = dict[str, Any]
Translate = Callable[..., str]

MAX_RESULT_CHARS = 6000
MAX_SAMPLES = 20
MAX_SERIES = 10
MAX_POINTS = 30
MAX_RANGE_MINUTES = 24 * 60
MIN_STEP_SECONDS = 15
MAX_RANGE_STEPS = 1000
MAX_ANNOTATION_CHARS = 300
NAME = r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$"


class ToolError(Exception):
    """A tool could not answer; the message goes back to the model as an error result."""


@dataclass
class ToolEnv:
    """What tools may use: clients (each may be None), the database, who asked."""

    engine: Engine
    prometheus: Any = None
    alertmanager: Any = None
    kubernetes: Any = None
    runbooks: Any = None  # RunbookService (lazy: see `runbook_service`)
    runbook_service: Callable[[], Any] | None = None
    requester: Requester = field(default_factory=lambda: Requester("", ""))
    t: Translate = lambda s, **kw: s.format(**kw)
    now: Callable[[], datetime] = datetime.now
    request_key: str = ""
    post_proposal: Callable[[RunView, str], str | None] | None = None
    billing_options: Any = None
    proposals: int = 0

    def service(self) -> Any:
        if self.runbooks is None and self.runbook_service is not None:
            self.runbooks = self.runbook_service()
        if self.runbooks is None:
            raise ToolError("runbooks are not configured")
        return self.runbooks


@dataclass(frozen=True)
class Output:
    """A tool's answer: JSON data for the model, a one-line summary for the evidence block."""

    data: object
    summary: str
    run_id: int | None = None
    outcome: str = "ok"


@dataclass(frozen=True)
class Tool:
    name: str
    description: str
    schema: Json
    run: Callable[[ToolEnv, Json], Output]
    read_only: bool = True

    def spec(self) -> Json:
        """The tool as the Messages API wants it."""
        return {"name": self.name, "description": self.description, "input_schema": self.schema}


@dataclass(frozen=True)
class Result:
    """One executed (or refused) tool call."""

    name: str
    args: object
    outcome: str  # ok | error | invalid | unknown | limit | proposed
    content: str  # what goes back to the model (redacted, size-limited)
    summary: str  # one line for the evidence block
    duration_ms: float = 0.0
    run_id: int | None = None

    @property
    def is_error(self) -> bool:
        return self.outcome not in ("ok", "proposed")


def _obj(props: Json, required: tuple[str, ...] = ()) -> Json:
    return {
        "type": "object",
        "properties": props,
        "required": list(required),
        "additionalProperties": False,
    }


_NS = {"type": "string", "pattern": NAME, "maxLength": 63, "description": "namespace"}


# -- Prometheus -----------------------------------------------------------------------------------


def _prom(env: ToolEnv) -> Any:
    if env.prometheus is None:
        raise ToolError("Prometheus is not configured")
    return env.prometheus


def promql_query(env: ToolEnv, args: Json) -> Output:
    samples = _prom(env).query(args["query"])
    rows = [{"labels": s.labels, "value": s.value} for s in samples[:MAX_SAMPLES]]
    return Output(
        {"query": args["query"], "result_count": len(samples), "samples": rows},
        f"`{args['query']}` → {len(samples)} result(s)"
        + (f", first {_fmt(samples[0].value)}" if samples else ""),
    )


def promql_range(env: ToolEnv, args: Json) -> Output:
    minutes = int(args.get("minutes", 60))
    step = int(args.get("step_seconds", 60))
    if minutes * 60 / step > MAX_RANGE_STEPS:
        raise ToolError(f"too many points ({minutes * 60 // step}); use a larger step")
    end = env.now()
    series = _prom(env).query_range(
        args["query"], start=end - timedelta(minutes=minutes), end=end, step=timedelta(seconds=step)
    )
    out = []
    for s in series[:MAX_SERIES]:
        values = [v for _, v in s.points]
        stride = max(1, len(s.points) // MAX_POINTS)
        out.append(
            {
                "labels": s.labels,
                "min": min(values) if values else None,
                "max": max(values) if values else None,
                "last": values[-1] if values else None,
                "points": [[int(ts), v] for ts, v in s.points[::stride]][:MAX_POINTS],
            }
        )
    return Output(
        {
            "query": args["query"],
            "minutes": minutes,
            "step_seconds": step,
            "series_count": len(series),
            "series": out,
        },
        f"`{args['query']}` over {minutes}m → {len(series)} series",
    )


def _fmt(value: float) -> str:
    return f"{value:.4g}"


# -- Alertmanager ---------------------------------------------------------------------------------


def firing_alerts(env: ToolEnv, args: Json) -> Output:
    if env.alertmanager is None:
        raise ToolError("Alertmanager is not configured")
    filters = [f"{k}={v}" for k, v in (args.get("labels") or {}).items()]
    alerts = env.alertmanager.firing_alerts(filters=filters or None)
    rows = [
        {
            "labels": a.labels,
            "annotations": a.annotations,
            "starts_at": a.starts_at.isoformat(),
            "state": a.state,
            "link": a.generator_url,
        }
        for a in alerts[:MAX_SAMPLES]
    ]
    names = sorted({a.labels.get("alertname", "?") for a in alerts})
    return Output(
        {"count": len(alerts), "alerts": rows},
        f"{len(alerts)} firing alert(s)" + (f": {', '.join(names[:5])}" if names else ""),
    )


# -- Kubernetes (read only; never Secrets) ---------------------------------------------------------


def _kube(env: ToolEnv) -> Any:
    if env.kubernetes is None:
        raise ToolError("Kubernetes is not configured")
    return env.kubernetes


def _kraw(env: ToolEnv, fn_name: str, group: str, **kwargs: Any) -> Json:
    from bot.clients.kubernetes import KubeError

    kube = _kube(env)
    api = kube.apps if group == "apps" else kube.core
    try:
        return kube.raw(getattr(api, fn_name), **kwargs)
    except KubeError as exc:
        raise ToolError(f"Kubernetes: {exc.kind} ({exc.status}): {exc.detail[:200]}") from None


def _annotations(meta: Json) -> dict[str, str]:
    """Annotations are data (they may contain anything, instructions included): capped."""
    return {
        k: str(v)[:MAX_ANNOTATION_CHARS]
        for k, v in (meta.get("annotations") or {}).items()
        if k != "kubectl.kubernetes.io/last-applied-configuration"
    }


def k8s_deployments(env: ToolEnv, args: Json) -> Output:
    ns = args["namespace"]
    items = _kraw(env, "list_namespaced_deployment", "apps", namespace=ns).get("items", [])
    rows = []
    for d in items:
        spec, status, meta = d.get("spec", {}), d.get("status", {}), d.get("metadata", {})
        containers = spec.get("template", {}).get("spec", {}).get("containers", [])
        rows.append(
            {
                "name": meta.get("name"),
                "replicas": spec.get("replicas"),
                "ready": status.get("readyReplicas", 0),
                "available": status.get("availableReplicas", 0),
                "images": [c.get("image") for c in containers],
                "revision": (meta.get("annotations") or {}).get(
                    "deployment.kubernetes.io/revision"
                ),
                "annotations": _annotations(meta),
            }
        )
    return Output({"namespace": ns, "deployments": rows}, f"{len(rows)} deployment(s) in {ns}")


def k8s_pods(env: ToolEnv, args: Json) -> Output:
    ns = args["namespace"]
    kwargs: Json = {"namespace": ns}
    if args.get("label_selector"):
        kwargs["label_selector"] = args["label_selector"]
    items = _kraw(env, "list_namespaced_pod", "core", **kwargs).get("items", [])
    prefix = args.get("name_prefix") or ""
    rows = []
    for p in items:
        meta, status = p.get("metadata", {}), p.get("status", {})
        if prefix and not str(meta.get("name", "")).startswith(prefix):
            continue
        statuses = status.get("containerStatuses") or []
        waiting = [
            (c.get("state") or {}).get("waiting", {}).get("reason")
            for c in statuses
            if (c.get("state") or {}).get("waiting")
        ]
        rows.append(
            {
                "name": meta.get("name"),
                "phase": status.get("phase", "Unknown"),
                "node": p.get("spec", {}).get("nodeName"),
                "restarts": sum(int(c.get("restartCount", 0)) for c in statuses),
                "ready": all(c.get("ready") for c in statuses) if statuses else None,
                "waiting": waiting,
                "labels": meta.get("labels") or {},
                "annotations": _annotations(meta),
            }
        )
    rows = rows[:50]
    phases: dict[str, int] = {}
    for r in rows:
        phases[r["phase"]] = phases.get(r["phase"], 0) + 1
    summary = ", ".join(f"{n} {ph}" for ph, n in sorted(phases.items())) or "none"
    return Output({"namespace": ns, "pods": rows}, f"pods in {ns}: {summary}")


def k8s_events(env: ToolEnv, args: Json) -> Output:
    ns = args["namespace"]
    items = _kraw(env, "list_namespaced_event", "core", namespace=ns).get("items", [])
    rows = [
        {
            "type": e.get("type"),
            "reason": e.get("reason"),
            "object": "{}/{}".format(
                (e.get("involvedObject") or {}).get("kind"),
                (e.get("involvedObject") or {}).get("name"),
            ),
            "message": str(e.get("message", ""))[:300],
            "count": e.get("count"),
            "last": e.get("lastTimestamp") or e.get("eventTime"),
        }
        for e in items[-30:]
    ]
    return Output({"namespace": ns, "events": rows}, f"{len(rows)} event(s) in {ns}")


def k8s_rollout_history(env: ToolEnv, args: Json) -> Output:
    ns, name = args["namespace"], args["deployment"]
    items = _kraw(env, "list_namespaced_replica_set", "apps", namespace=ns).get("items", [])
    revs = []
    for rs in items:
        meta = rs.get("metadata", {})
        owners = [o.get("name") for o in meta.get("ownerReferences") or []]
        if name not in owners:
            continue
        containers = rs.get("spec", {}).get("template", {}).get("spec", {}).get("containers", [])
        revs.append(
            {
                "revision": int(
                    (meta.get("annotations") or {}).get("deployment.kubernetes.io/revision", 0)
                ),
                "replicaset": meta.get("name"),
                "images": [c.get("image") for c in containers],
                "replicas": rs.get("spec", {}).get("replicas"),
                "created": meta.get("creationTimestamp"),
            }
        )
    revs.sort(key=lambda r: r["revision"])
    return Output(
        {"namespace": ns, "deployment": name, "revisions": revs},
        f"{ns}/{name}: {len(revs)} revision(s)"
        + (f", current {revs[-1]['revision']} {revs[-1]['images']}" if revs else ""),
    )


# -- incidents, billing, runbooks ------------------------------------------------------------


def recent_incidents(env: ToolEnv, args: Json) -> Output:
    from storage import incidents as repo
    from storage.db import unit_of_work

    with unit_of_work(env.engine) as s:
        rows = repo.list_incidents(
            s, open_only=bool(args.get("open_only")), limit=int(args.get("limit", 10))
        )
        out = [
            {
                "ref": f"INC-{i.number}",
                "title": i.title,
                "severity": i.severity,
                "service": i.service,
                "status": i.status,
                "declared_at": i.declared_at.isoformat(),
                "resolved_at": i.resolved_at.isoformat() if i.resolved_at else None,
                "last_update": (i.last_update_text or "")[:300],
            }
            for i in rows
        ]
    return Output({"incidents": out}, f"{len(out)} incident(s)")


def incident_timeline(env: ToolEnv, args: Json) -> Output:
    from storage import incidents as repo
    from storage.db import unit_of_work
    from storage.models.incidents import Incident

    number = int(args["number"])
    with unit_of_work(env.engine) as s:
        inc = s.exec(select(Incident).where(Incident.number == number)).first()
        if inc is None:
            raise ToolError(f"no incident INC-{number}")
        entries = [
            {
                "at": e.at.isoformat(),
                "kind": e.kind,
                "actor": e.actor,
                "text": e.text[:300],
                "link": e.link,
            }
            for e in repo.timeline(s, incident_id=inc.id or 0)[-40:]
        ]
        head = {"ref": f"INC-{inc.number}", "title": inc.title, "status": inc.status}
    return Output({**head, "timeline": entries}, f"INC-{number}: {len(entries)} timeline entries")


def cost_query(env: ToolEnv, args: Json) -> Output:
    from handlers.billing import queries
    from storage.db import unit_of_work

    try:
        with unit_of_work(env.engine) as s:
            anchor = queries.anchor_day(s, env.now().date())
            period = queries.parse_period(args.get("period") or "7d", anchor=anchor)
            by = queries.check_grouping(args.get("by"))
            summary = queries.summary(s, period=period, by=by, limit=int(args.get("limit", 10)))
    except queries.QueryError as exc:
        raise ToolError(str(exc)) from None
    lines = [
        {
            "group": ln.label,
            "currency": ln.currency,
            "cost": round(ln.cost, 2),
            "previous": round(ln.previous, 2),
            "change_pct": round(ln.pct, 1) if ln.pct is not None else None,
        }
        for ln in summary.lines
    ]
    totals = [
        {"currency": ln.currency, "cost": round(ln.cost, 2), "previous": round(ln.previous, 2)}
        for ln in summary.totals
    ]
    first = ", ".join(f"{t['cost']:.2f} {t['currency']}" for t in totals) or "no data"
    return Output(
        {
            "period": f"{summary.period.start}…{summary.period.end}",
            "previous_period": f"{summary.previous.start}…{summary.previous.end}",
            "by": by,
            "lines": lines,
            "totals": totals,
        },
        f"cost {summary.period.start}…{summary.period.end} by {by}: {first}",
    )


def runbook_catalog(env: ToolEnv, args: Json) -> Output:
    catalog = env.service().catalog
    rows = [
        {
            "name": rb.name,
            "title": rb.title,
            "description": rb.description,
            "risk": rb.risk,
            "parameters": [
                {
                    k: v
                    for k, v in {
                        "name": p.name,
                        "type": p.type,
                        "required": p.required,
                        "enum": list(p.enum) if p.enum else None,
                        "min": p.min,
                        "max": p.max,
                    }.items()
                    if v is not None
                }
                for p in rb.parameters
            ],
        }
        for rb in catalog.values()
    ]
    return Output({"runbooks": rows}, f"{len(rows)} runbook(s)")


MAX_PROPOSALS = 2


def propose_runbook(env: ToolEnv, args: Json) -> Output:
    """Create an approval request (never executes): the same path as /runbook run."""
    if env.proposals >= MAX_PROPOSALS:
        raise ToolError(f"at most {MAX_PROPOSALS} proposals per question")
    env.proposals += 1
    params = {k: _param(v) for k, v in (args.get("params") or {}).items()}
    svc = env.service()
    out = svc.request_run(
        runbook=args["name"],
        params=params,
        requester=env.requester,
        t=env.t,
        request_key=f"{env.request_key}:{env.proposals}" if env.request_key else None,
        source="copilot",
        execute_auto=False,
        require_approval=True,
    )
    data: Json = {"status": out.status, "message": out.message[:500]}
    if out.run is None:
        return Output(data, f"proposal {args['name']} {params}: {out.status}", outcome="error")
    data["run_id"] = out.run.id
    data["note"] = "A human must approve this run; it has NOT been executed."
    if env.post_proposal is not None:
        env.post_proposal(out.run, str(args.get("reason", "")))
    return Output(
        data,
        f"proposed run #{out.run.id}: {args['name']} {params} ({out.status})",
        run_id=out.run.id,
        outcome="proposed",
    )


def _param(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


# -- the registry ---------------------------------------------------------------------------------

_QUERY = {"type": "string", "minLength": 1, "maxLength": 2000, "description": "PromQL"}

TOOLS: dict[str, Tool] = {
    t.name: t
    for t in (
        Tool(
            "promql_query",
            "Evaluate an instant PromQL query against Prometheus (at most 20 samples back).",
            _obj({"query": _QUERY}, ("query",)),
            promql_query,
        ),
        Tool(
            "promql_range",
            "Evaluate a PromQL range query over the last `minutes` (<= 1440) with a step in "
            "seconds (>= 15); at most 10 series, summarised (min, max, last, sampled points).",
            _obj(
                {
                    "query": _QUERY,
                    "minutes": {"type": "integer", "minimum": 1, "maximum": MAX_RANGE_MINUTES},
                    "step_seconds": {
                        "type": "integer",
                        "minimum": MIN_STEP_SECONDS,
                        "maximum": 3600,
                    },
                },
                ("query",),
            ),
            promql_range,
        ),
        Tool(
            "firing_alerts",
            "Alerts firing now in Alertmanager, optionally filtered by label equality.",
            _obj(
                {
                    "labels": {
                        "type": "object",
                        "additionalProperties": {"type": "string", "maxLength": 200},
                        "maxProperties": 5,
                    }
                }
            ),
            firing_alerts,
        ),
        Tool(
            "k8s_deployments",
            "Deployments of a Kubernetes namespace: replicas, ready, images, revision.",
            _obj({"namespace": _NS}, ("namespace",)),
            k8s_deployments,
        ),
        Tool(
            "k8s_pods",
            "Pods of a namespace and their status (phase, restarts, waiting reasons, node).",
            _obj(
                {
                    "namespace": _NS,
                    "label_selector": {"type": "string", "maxLength": 200},
                    "name_prefix": {"type": "string", "maxLength": 100},
                },
                ("namespace",),
            ),
            k8s_pods,
        ),
        Tool(
            "k8s_events",
            "Recent Kubernetes events of a namespace.",
            _obj({"namespace": _NS}, ("namespace",)),
            k8s_events,
        ),
        Tool(
            "k8s_rollout_history",
            "Rollout history of a deployment: revisions and their images.",
            _obj(
                {
                    "namespace": _NS,
                    "deployment": {"type": "string", "pattern": NAME, "maxLength": 253},
                },
                ("namespace", "deployment"),
            ),
            k8s_rollout_history,
        ),
        Tool(
            "recent_incidents",
            "Recent incidents (or only the open ones) with status and last update.",
            _obj(
                {
                    "open_only": {"type": "boolean"},
                    "limit": {"type": "integer", "minimum": 1, "maximum": 20},
                }
            ),
            recent_incidents,
        ),
        Tool(
            "incident_timeline",
            "The timeline of one incident by its number (INC-12 -> 12).",
            _obj({"number": {"type": "integer", "minimum": 1}}, ("number",)),
            incident_timeline,
        ),
        Tool(
            "cost_query",
            "Cloud cost for a period (7d, 30d, Nd, mtd, last-month) grouped by service, "
            "project, region, resource or tag:KEY, with the previous period for comparison.",
            _obj(
                {
                    "period": {"type": "string", "pattern": r"^(\d{1,3}d|mtd|last-month)$"},
                    "by": {"type": "string", "maxLength": 70},
                    "limit": {"type": "integer", "minimum": 1, "maximum": 30},
                }
            ),
            cost_query,
        ),
        Tool(
            "runbook_catalog",
            "The runbooks humans can approve: names, risk, parameters.",
            _obj({}),
            runbook_catalog,
        ),
        Tool(
            "propose_runbook",
            "Propose a runbook run. This does NOT execute anything: it posts an approval "
            "request that humans approve or reject under the runbook policies.",
            _obj(
                {
                    "name": {"type": "string", "pattern": r"^[a-z0-9-]{1,64}$"},
                    "params": {
                        "type": "object",
                        "additionalProperties": {
                            "type": ["string", "integer", "number", "boolean"]
                        },
                        "maxProperties": 20,
                    },
                    "reason": {"type": "string", "minLength": 1, "maxLength": 500},
                },
                ("name", "params", "reason"),
            ),
            propose_runbook,
            read_only=False,
        ),
    )
}


def specs(tools: Mapping[str, Tool] = TOOLS) -> list[Json]:
    return [tool.spec() for tool in tools.values()]


def limit_text(text: str, limit: int = MAX_RESULT_CHARS) -> str:
    """Cut `text` to `limit` characters, saying how much was dropped."""
    if len(text) <= limit:
        return text
    dropped = len(text) - limit
    return text[:limit] + f"\n…[truncated {dropped} characters]"


def validate(tool: Tool, args: object) -> str | None:
    """The first schema violation of `args` (None when valid)."""
    if not isinstance(args, dict):
        return "arguments must be a JSON object"
    validator = jsonschema.Draft202012Validator(tool.schema)
    errors = sorted(validator.iter_errors(args), key=lambda e: list(e.path))
    if not errors:
        return None
    err = errors[0]
    where = "/".join(str(p) for p in err.path) or "arguments"
    return f"{where}: {err.message[:200]}"


def execute(env: ToolEnv, name: str, args: object, tools: Mapping[str, Tool] = TOOLS) -> Result:
    """Run one tool call; never raises: unknown tools and bad input become error results."""
    started = time.perf_counter()
    safe_args = args if isinstance(args, dict) else {"_raw": repr(args)[:200]}

    def done(outcome: str, content: str, summary: str, run_id: int | None = None) -> Result:
        return Result(
            name=name[:128],
            args=safe_args,
            outcome=outcome,
            content=limit_text(redact(content)),
            summary=redact(summary)[:300],
            duration_ms=(time.perf_counter() - started) * 1000,
            run_id=run_id,
        )

    tool = tools.get(name)
    if tool is None:
        known = ", ".join(sorted(tools))
        return done(
            "unknown",
            f"error: unknown tool {name[:64]!r}; tools: {known}",
            f"{name[:64]}: unknown tool",
        )
    problem = validate(tool, args)
    if problem is not None:
        return done("invalid", f"error: invalid arguments: {problem}", f"{name}: {problem}")
    try:
        out = tool.run(env, args)  # type: ignore[arg-type]
    except ToolError as exc:
        return done("error", f"error: {exc}", f"{name}: {exc}")
    except Exception as exc:  # a failing source is an answer for the model, not a crash
        reason = getattr(exc, "reason", None) or f"{type(exc).__name__}: {str(exc)[:200]}"
        return done("error", f"error: {reason}", f"{name}: {reason}")
    content = json.dumps(out.data, ensure_ascii=False, default=str)
    return done(out.outcome, content, out.summary, out.run_id)
