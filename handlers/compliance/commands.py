"""/compliance scan|evidence, /copilot stats, and the Propose fix and feedback buttons."""

from __future__ import annotations

import base64
import logging
from pathlib import Path

from bot.clients.kubernetes import KubeError
from bot.context import Context
from bot.i18n import N_
from bot.messages import Attachment, Message, Section
from bot.router import Args, Opt, Router, UsageError
from handlers.compliance import evidence, feedback, stats
from handlers.compliance.scan import FIXABLE, PROPOSE_FIX, run_scan, summary_message
from policies.guardrails import load_policy
from storage import compliance as repo

log = logging.getLogger(__name__)
MAX_UPLOAD = 5 * 1024 * 1024  # larger archives are saved under var/ instead of uploaded
EVIDENCE_DIR = Path("var") / "evidence"


def register(router: Router) -> None:
    g = router.command("compliance", help=N_("Guardrail scans and the evidence archive"))
    g.sub(
        "scan",
        compliance_scan,
        help=N_("Check the cluster's workloads against the guardrails"),
        usage="scan [--namespace NS] [--top N]",
        options=[
            Opt("namespace", help=N_("only this namespace")),
            Opt("top", type=int, help=N_("how many findings to show")),
        ],
        max_args=0,
    )
    g.sub(
        "evidence",
        compliance_evidence,
        help=N_("Export the audit-ready evidence archive (zip)"),
        usage="evidence [--from YYYY-MM-DD] [--to YYYY-MM-DD]",
        options=[Opt("from", help=N_("first day")), Opt("to", help=N_("last day"))],
        max_args=0,
    )
    router.command("copilot", help=N_("The assistant: help, language, questions")).sub(
        "stats",
        copilot_stats,
        help=N_("Usage and outcome figures with a chart"),
        usage="stats [--period 30d]",
        options=[Opt("period", help=N_("e.g. 7d, 30d, 12w"))],
        max_args=0,
    )
    router.action(PROPOSE_FIX, on_propose_fix)
    router.action(feedback.UP, feedback.on_vote)
    router.action(feedback.DOWN, feedback.on_vote)


def compliance_scan(ctx: Context, args: Args) -> Message | None:
    """Scan, store the scan, post the summary with the top findings and their fixes."""
    kube = ctx.services.kubernetes
    if kube is None:
        raise UsageError(ctx.t("Kubernetes is not configured (set KUBECONFIG)."))
    top = args.opt("top") or 5
    if not 1 <= int(top) <= 50:
        raise UsageError(ctx.t("--top must be between 1 and 50."))
    ns = args.opt("namespace")
    try:
        result = run_scan(
            ctx.engine,
            kube,
            load_policy(),
            namespace=ns,
            trigger="command",
            actor=f"{ctx.event.platform}:{ctx.actor.id}",
            now=ctx.now(),
        )
    except KubeError as exc:
        raise UsageError(exc.describe(ctx.t, target=ns or ctx.t("the cluster"))) from None
    ctx.audit(
        "compliance.scan",
        f"scan:{result.scan_id}",
        {
            "scope": result.scope,
            "workloads": len(result.evaluation.workloads),
            "findings": len(result.evaluation.findings),
        },
    )
    return summary_message(result, ctx.t, top=int(top))


def on_propose_fix(ctx: Context, value: str) -> Message | None:
    """Propose the label fix of a finding as a label-workload run (approval path)."""
    from handlers.runbooks import service_for
    from runbooks.messages import outcome_message, run_message
    from runbooks.runs import Requester

    try:
        finding_id = int(value)
    except ValueError:
        raise UsageError(ctx.t("This button is no longer valid.")) from None
    with ctx.session() as s:
        row = repo.get_finding(s, finding_id=finding_id)
        if row is None or row.rule not in FIXABLE:
            raise UsageError(ctx.t("This finding has no automatic fix."))
        kind, ns, name = row.kind, row.namespace, row.name
    policy = load_policy()
    ev = ctx.event
    svc = service_for(ctx.runtime)
    out = svc.request_run(
        runbook="label-workload",
        params={
            "namespace": ns,
            "kind": kind.lower(),
            "name": name,
            "key": policy.classification_label,
            "value": policy.default_class,
        },
        requester=Requester(ev.actor.id, str(ev.platform), ev.actor.label, ev.channel.id, None),
        t=ctx.t,
        request_key=f"guardrail-fix:{finding_id}:{ev.platform}:{ev.actor.id}",
        source="compliance",
        execute_auto=False,
        require_approval=True,
    )
    if out.run is None:
        ctx.answer(outcome_message(out, ctx.t), ephemeral=True)
        return None
    if out.status == "duplicate":
        ctx.answer(Message.plain(out.message), ephemeral=True)
        return None
    key = ctx.reply(run_message(out.run, ctx.t))
    svc.set_message_key(out.run.id, key)
    return None


def _day(ctx: Context, raw: str | None, *, end: bool = False) -> object:
    try:
        return evidence.parse_day(raw, end=end)
    except ValueError:
        raise UsageError(ctx.t("Not a date: {value} (use YYYY-MM-DD).", value=raw or "")) from None


def compliance_evidence(ctx: Context, args: Args) -> Message | None:
    """Build the evidence archive; upload it, or save it under var/ when it is too big."""
    start = _day(ctx, args.opt("from"))
    end = _day(ctx, args.opt("to"), end=True)
    archive = evidence.build_archive(ctx.engine, start=start, end=end, now=ctx.now())  # type: ignore[arg-type]
    ctx.audit(
        "compliance.evidence",
        archive.filename,
        {"files": len(archive.files), "bytes": len(archive.data), "audit_ok": archive.audit_ok},
    )
    chain = (
        ctx.t("audit chain OK ({n} entries)", n=archive.audit_checked)
        if archive.audit_ok
        else ctx.t("audit chain BROKEN — see audit/verification.json")
    )
    counts = ", ".join(f"{k}: {v}" for k, v in archive.counts.items())
    text = ctx.t(
        "Evidence archive {name}: {files} files, {chain}.",
        name=archive.filename,
        files=len(archive.files) + 1,
        chain=chain,
    )
    if len(archive.data) <= MAX_UPLOAD:
        return Message(
            text=text,
            blocks=[Section(text=text), Section(text=counts)],
            attachments=[
                Attachment(
                    filename=archive.filename,
                    title=ctx.t("Evidence archive"),
                    content_b64=base64.b64encode(archive.data).decode(),
                )
            ],
        )
    EVIDENCE_DIR.mkdir(parents=True, exist_ok=True)
    path = EVIDENCE_DIR / archive.filename
    path.write_bytes(archive.data)
    saved = ctx.t("Too big to upload; saved on the bot's host as {path}.", path=str(path))
    return Message(text=text, blocks=[Section(text=text), Section(text=counts + "\n" + saved)])


def copilot_stats(ctx: Context, args: Args) -> Message | None:
    """The learning-loop figures for a period, with the dashboard chart."""
    try:
        days = stats.parse_period(args.opt("period"))
    except ValueError:
        raise UsageError(ctx.t("A period looks like 7d, 30d or 12w (at most 366 days).")) from None
    with ctx.session() as s:
        st = stats.compute(s, end=ctx.now(), days=days)
    return stats_message(ctx.t, st, days)


def stats_message(t: stats.Translate, st: stats.Stats, days: int) -> Message:
    """The stats post (the command and the weekly job)."""
    head = t("Copilot stats for the last {n} days", n=days)
    top = ", ".join(f"{k} {v}" for k, v in st.commands.most_common(6)) or "—"
    label = t("Commands by kind")
    png = stats.chart_png(st, t)
    return Message(
        text=head,
        blocks=[
            Section(text="*" + head + "*", fields=stats.figures(st, t)),
            Section(text=f"{label}: {top}"),
            feedback.buttons(t, f"stats:{st.end.date().isoformat()}:{days}", "stats"),
        ],
        attachments=[
            Attachment(
                filename="copilot-stats.png",
                title=head,
                content_b64=base64.b64encode(png).decode(),
            )
        ],
    )
