"""Guardrail scans: read the workloads, evaluate the policy, store the scan, render messages."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy.engine import Engine

from bot.clients.kubernetes import KubeClient
from bot.messages import Actions, Button, Context, Divider, Header, Message, Section
from handlers.compliance.workloads import list_workloads
from policies.guardrails import (
    RULE_TEXT,
    SEVERITIES,
    Evaluation,
    Finding,
    GuardrailPolicy,
    describe,
    evaluate,
    rank,
)
from storage import compliance as repo
from storage.db import unit_of_work

Translate = Callable[..., str]
PROPOSE_FIX = "compliance:fix"
FIXABLE = ("classification-label", "classification-value")
SEVERITY_ICON = {"critical": "🔴", "high": "🟠", "medium": "🟡", "low": "⚪"}


@dataclass(frozen=True)
class ChangeItem:
    """A finding that appeared or disappeared between two scans (for the scheduled post)."""

    ref: str
    rule: str
    severity: str
    params: dict[str, object]


@dataclass
class ScanResult:
    scan_id: int
    scope: str
    evaluation: Evaluation
    finding_ids: dict[str, int] = field(default_factory=dict)  # fingerprint -> row id
    previous_id: int | None = None
    new: list[ChangeItem] = field(default_factory=list)
    fixed: list[ChangeItem] = field(default_factory=list)


def run_scan(
    engine: Engine,
    kube: KubeClient,
    policy: GuardrailPolicy,
    *,
    namespace: str | None,
    trigger: str,
    actor: str,
    now: datetime,
) -> ScanResult:
    """Scan the cluster (or one namespace), store the result and diff it with the last scan."""
    evaluation = evaluate(policy, list_workloads(kube, namespace))
    scope = namespace or ""
    with unit_of_work(engine) as s:
        scan = repo.save_scan(
            s,
            at=now,
            scope=scope,
            trigger=trigger,
            actor=actor,
            workloads=len(evaluation.workloads),
            compliant=evaluation.compliant,
            findings=evaluation.findings,
        )
        scan_id = scan.id or 0
        rows = repo.scan_findings(s, scan_id=scan_id)
        result = ScanResult(scan_id, scope, evaluation, {r.fingerprint: r.id or 0 for r in rows})
        prev = repo.previous_scan(s, scope=scope, before_id=scan_id)
        if prev is not None:
            result.previous_id = prev.id
            old = {r.fingerprint: r for r in repo.scan_findings(s, scan_id=prev.id or 0)}
            current = {f.fingerprint: f for f in evaluation.findings}
            result.new = [
                ChangeItem(f.workload.ref, f.rule, f.severity, f.params)
                for fp, f in current.items()
                if fp not in old
            ]
            result.fixed = [
                ChangeItem(
                    f"{r.kind}/{r.namespace}/{r.name}", r.rule, r.severity, _params(r.params)
                )
                for fp, r in old.items()
                if fp not in current
            ]
    return result


def _params(raw: str) -> dict[str, object]:
    try:
        value = json.loads(raw or "{}")
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _line(t: Translate, ref: str, rule: str, severity: str, params: dict[str, object]) -> str:
    _, detail, _ = describe(t, rule, params)
    return f"{SEVERITY_ICON.get(severity, '•')} *{ref}* — {detail}"


def summary_message(result: ScanResult, t: Translate, *, top: int = 5) -> Message:
    """The scan summary: % compliant, findings by rule, the top findings with their fixes."""
    ev = result.evaluation
    scope = result.scope or t("all namespaces")
    pct = f"{ev.percent:.0f}"
    headline = t(
        "{pct}% of workloads meet every guardrail ({ok} of {n}) in {scope}.",
        pct=pct,
        ok=ev.compliant,
        n=len(ev.workloads),
        scope=scope,
    )
    blocks: list[object] = [
        Header(text=t("Guardrail scan #{id}", id=result.scan_id)),
        Section(text=headline),
    ]
    if not ev.findings:
        blocks.append(Section(text="✅ " + t("No findings.")))
        return Message(text=headline, blocks=blocks)  # type: ignore[arg-type]
    by_rule = Counter(f.rule for f in ev.findings)
    order = {s: i for i, s in enumerate(SEVERITIES)}
    sev = {f.rule: f.severity for f in ev.findings}
    fields = [
        (f"{SEVERITY_ICON.get(sev[r], '•')} {t(RULE_TEXT[r][0])}", str(n))
        for r, n in sorted(by_rule.items(), key=lambda kv: (order.get(sev[kv[0]], 9), -kv[1]))
    ]
    blocks.append(Section(text=t("Findings by rule"), fields=fields))
    blocks.append(Divider())
    ranked = rank(ev.findings)
    lines = []
    buttons: list[Button] = []
    for f in ranked[:top]:
        _, _, fix = describe(t, f.rule, f.params)
        lines.append(
            _line(t, f.workload.ref, f.rule, f.severity, f.params)
            + "\n    "
            + t("Fix: {fix}", fix=fix)
        )
        fid = result.finding_ids.get(f.fingerprint)
        if f.rule in FIXABLE and fid and len(buttons) < 5:
            buttons.append(
                Button(
                    label=t("Propose fix: {name}", name=f.workload.name)[:75],
                    action_id=PROPOSE_FIX,
                    value=str(fid),
                )
            )
    title = t("Top {n} of {total} findings", n=min(top, len(ranked)), total=len(ranked))
    blocks.append(Section(text=f"*{title}*\n" + "\n".join(lines)))
    if buttons:
        blocks.append(Actions(buttons=buttons))
    blocks.append(
        Context(text=t("Policy: policies/guardrails.yaml · scan #{id}", id=result.scan_id))
    )
    return Message(text=headline, blocks=blocks)  # type: ignore[arg-type]


def changes_message(result: ScanResult, t: Translate, *, limit: int = 10) -> Message | None:
    """New and fixed violations since the previous scan, or None when nothing changed."""
    if result.previous_id is None or not (result.new or result.fixed):
        return None
    ev = result.evaluation
    head = t(
        "Guardrails: {new} new violation(s), {fixed} fixed; {pct}% of workloads compliant.",
        new=len(result.new),
        fixed=len(result.fixed),
        pct=format(ev.percent, ".0f"),
    )
    blocks: list[object] = [Section(text=head)]
    if result.new:
        lines = [_line(t, c.ref, c.rule, c.severity, c.params) for c in result.new[:limit]]
        blocks.append(Section(text="*" + t("New") + "*\n" + "\n".join(lines)))
    if result.fixed:
        lines = [
            "✅ " + _line(t, c.ref, c.rule, c.severity, c.params)[2:] for c in result.fixed[:limit]
        ]
        blocks.append(Section(text="*" + t("Fixed") + "*\n" + "\n".join(lines)))
    blocks.append(Context(text=t("Details: /compliance scan")))
    return Message(text=head, blocks=blocks)  # type: ignore[arg-type]


def findings_for_archive(findings: list[Finding]) -> list[dict[str, object]]:
    """Plain rows (for tests and exports)."""
    return [
        {"workload": f.workload.ref, "rule": f.rule, "severity": f.severity, **f.params}
        for f in findings
    ]
