"""Read-only step kinds: prometheus_check, http_check, wait, notify."""

from __future__ import annotations

import json
import operator
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping
from typing import Any

from runbooks.steps.base import PromQuery, StepContext, StepFailed, StepResult, parse_duration

OPS: dict[str, Callable[[float, float], bool]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
    "==": operator.eq,
    "!=": operator.ne,
}


class HttpPrometheus:
    """A minimal PromQuery over Prometheus' HTTP API (`/api/v1/query`)."""

    def __init__(self, base_url: str, *, timeout: float = 10.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout

    def query(self, promql: str) -> list[tuple[dict[str, str], float]]:
        """Run an instant query; vectors and scalars become (labels, value) pairs."""
        url = f"{self.base_url}/api/v1/query?" + urllib.parse.urlencode({"query": promql})
        with urllib.request.urlopen(url, timeout=self.timeout) as resp:
            body = json.loads(resp.read())
        if body.get("status") != "success":
            raise RuntimeError(body.get("error", "query failed"))
        data = body["data"]
        if data["resultType"] == "vector":
            return [(r["metric"], float(r["value"][1])) for r in data["result"]]
        if data["resultType"] == "scalar":
            return [({}, float(data["result"][1]))]
        raise RuntimeError(f"unsupported result type {data['resultType']}")


def evaluate_prometheus(
    prom: PromQuery, query: str, op: str, threshold: float, on_empty: str
) -> tuple[bool, str]:
    """True when every series satisfies `value op threshold`; also a short explanation."""
    series = prom.query(query)
    if not series:
        return on_empty == "pass", "no data"
    cmp = OPS[op]
    bad = [(labels, v) for labels, v in series if not cmp(v, threshold)]
    values = ", ".join(f"{v:g}" for _, v in series[:5])
    return not bad, values


def prometheus_check(ctx: StepContext, args: Mapping[str, Any]) -> StepResult:
    """Fail unless the PromQL query's value(s) satisfy the condition, e.g. `< 0.05`."""
    if ctx.prometheus is None:
        raise StepFailed(ctx.t("No Prometheus is configured (PROMETHEUS_URL)."))
    query, op = str(args["query"]), str(args.get("op", "<"))
    threshold = float(args["threshold"])
    if op not in OPS:
        raise StepFailed(ctx.t("Unknown comparison {op}", op=op))
    try:
        ok, values = evaluate_prometheus(
            ctx.prometheus, query, op, threshold, str(args.get("on_empty", "fail"))
        )
    except (OSError, RuntimeError, ValueError) as exc:
        raise StepFailed(ctx.t("Prometheus query failed: {error}", error=str(exc))) from exc
    shown = format(threshold, "g")
    text = ctx.t(
        "{query} = {values} (must be {op} {threshold})",
        query=query,
        values=values,
        op=op,
        threshold=shown,
    )
    if not ok:
        raise StepFailed(ctx.t("Check failed: {text}", text=text))
    return StepResult(True, text, output={"values": values})


def _http_probe(
    url: str, timeout: float, expect_status: int, contains: str | None
) -> tuple[bool, str]:
    req = urllib.request.Request(url, headers={"User-Agent": "console-copilot"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            status, body = resp.status, resp.read(65536).decode("utf-8", "replace")
    except urllib.error.HTTPError as exc:
        status, body = exc.code, ""
    except (urllib.error.URLError, TimeoutError, OSError) as exc:
        return False, str(getattr(exc, "reason", exc))
    if status != expect_status:
        return False, f"HTTP {status}"
    if contains and contains not in body:
        return False, f"HTTP {status}, body lacks {contains!r}"
    return True, f"HTTP {status}"


def http_check(ctx: StepContext, args: Mapping[str, Any]) -> StepResult:
    """GET a URL; fail unless it answers with the expected status (and text)."""
    url = str(args["url"])
    if not url.startswith(("http://", "https://")):
        raise StepFailed(ctx.t("Only http(s) URLs can be checked: {url}", url=url))
    ok, detail = _http_probe(
        url,
        float(parse_duration(args.get("timeout", ctx.http_timeout))),
        int(args.get("expect_status", 200)),
        args.get("contains"),
    )
    if not ok:
        raise StepFailed(ctx.t("HTTP check of {url} failed: {detail}", url=url, detail=detail))
    return StepResult(True, ctx.t("{url} answered {detail}", url=url, detail=detail))


def wait(ctx: StepContext, args: Mapping[str, Any]) -> StepResult:
    """Wait a duration, or until a condition (prometheus or http) holds, up to `timeout`."""
    if "condition" not in args:
        seconds = parse_duration(args.get("duration", 0))
        if not ctx.dry_run:
            ctx.sleep(seconds)
        return StepResult(True, ctx.t("Waited {s:g}s", s=seconds))
    cond = dict(args["condition"])
    kind = cond.pop("kind")
    check = {"prometheus_check": prometheus_check, "http_check": http_check}.get(kind)
    if check is None:
        raise StepFailed(ctx.t("A wait condition must be prometheus_check or http_check"))
    timeout = parse_duration(args.get("timeout", "5m"))
    interval = parse_duration(args.get("interval", "10s"))
    deadline = ctx.monotonic() + timeout
    last = ""
    while True:
        try:
            result = check(ctx, cond)
            return StepResult(True, ctx.t("Condition met: {text}", text=result.summary))
        except StepFailed as exc:
            last = exc.message
        if ctx.dry_run or ctx.monotonic() + interval > deadline:
            break
        ctx.sleep(interval)
    if ctx.dry_run:
        return StepResult(True, ctx.t("Dry run: condition not met yet ({last})", last=last))
    raise StepFailed(ctx.t("Timed out after {s:g}s: {last}", s=timeout, last=last))


def notify(ctx: StepContext, args: Mapping[str, Any]) -> StepResult:
    """Produce a message for the run's chat thread."""
    text = str(args["message"])
    return StepResult(True, text, message=text)
