"""/runbook list|show|run|status|cancel and the Approve / Reject / Resume / Cancel buttons.

A thin layer: the service (runbooks/service.py) validates, dry-runs, applies the policy and
executes once; this module turns its outcomes into chat messages and keeps the approval
message up to date while the steps run.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from bot import outbox
from bot.clients.prometheus import PromPairs
from bot.context import Context, Runtime
from bot.events import Platform
from bot.i18n import N_, translator
from bot.messages import Message
from bot.router import Args, Opt, Router, UsageError
from bot.scheduler import JobContext
from policies.engine import load_policy
from runbooks.catalog import load_catalog
from runbooks.messages import (
    RunbookAction,
    catalog_message,
    outcome_message,
    plan_message,
    run_message,
    runbook_message,
)
from runbooks.model import state_label
from runbooks.runs import Outcome, Requester, RunView
from runbooks.service import RunbookService

SERVICE_KEY = "runbooks"


log = logging.getLogger(__name__)


def register(router: Router) -> None:
    g = router.command("runbook", help=N_("Runbooks: dry run, approvals, execution"))
    g.sub("list", runbook_list, help=N_("List the runbooks"), usage="list", max_args=0)
    g.sub(
        "show",
        runbook_show,
        help=N_("Parameters and steps of a runbook"),
        usage="show <name>",
        min_args=1,
        max_args=1,
    )
    g.sub(
        "run",
        runbook_run,
        help=N_("Request a run (dry run, then approvals)"),
        usage="run <name> key=value ... [--dry-run]",
        options=[Opt("dry-run", flag=True, help=N_("only show what would change"))],
        min_args=1,
        max_args=1,
        params=True,
    )
    g.sub(
        "status",
        runbook_status,
        help=N_("State of a run and its steps"),
        usage="status <id>",
        min_args=1,
        max_args=1,
    )
    g.sub(
        "cancel",
        runbook_cancel,
        help=N_("Cancel a run"),
        usage="cancel <id>",
        min_args=1,
        max_args=1,
    )
    router.action(RunbookAction.APPROVE, on_approve)
    router.action(RunbookAction.REJECT, on_reject)
    router.action(RunbookAction.RESUME, on_resume)
    router.action(RunbookAction.CANCEL, on_cancel)


def service(ctx: Context) -> RunbookService:
    """The process's RunbookService (built once from the runtime's clients)."""
    return service_for(ctx.runtime)


def service_for(runtime: Runtime) -> RunbookService:
    """The RunbookService of a runtime (handlers and scheduler jobs share it)."""
    extra = runtime.services.extra
    svc = extra.get(SERVICE_KEY)
    if svc is None:
        prom = runtime.services.prometheus
        svc = RunbookService(
            engine=runtime.engine,
            catalog=load_catalog(),
            policy=load_policy(),
            kube=runtime.services.kubernetes,
            prometheus=PromPairs(prom) if prom else None,
            resolve_group=extra.get("resolve_group") or _platform_groups(runtime),
        )
        # setdefault: two threads building it at once (start-up checks and a handler or job)
        # end up with one service, and a late builder never replaces one already in place
        svc = extra.setdefault(SERVICE_KEY, svc)
    return svc


def expire_job(ctx: JobContext) -> None:
    """Expire approval requests past their deadline and update their messages."""
    svc = service_for(ctx.runtime)
    t = translator(ctx.runtime.settings.copilot_default_locale).t
    for run_id in svc.expire_due(ctx.now()):
        view = svc.status(run_id)
        if view is not None and view.message_key:
            with ctx.session() as s:
                row = outbox.find(s, view.message_key)
                if row is not None:
                    outbox.enqueue(
                        s,
                        platform=row.platform,
                        op="update",
                        channel_id=row.channel_id,
                        message=run_message(view, t),
                        target_key=view.message_key,
                    )


def register_jobs(scheduler: Any) -> None:
    """Approval expiry, every minute, on the scheduler leader."""
    scheduler.add_job("runbooks.expire", expire_job, every=timedelta(minutes=1))


def on_startup(runtime: Runtime) -> list[int]:
    """Runs found `running` after a restart become `interrupted` (never silently re-run)."""
    return service_for(runtime).mark_interrupted_on_startup()


def _platform_groups(runtime: Runtime) -> Callable[[str, str, str], bool]:
    """Approver groups by platform reference (`slack:usergroup:S1`, `mattermost:team:ops`,
    `local:group:sre`), resolved through the platform's own API."""
    apis = runtime.apis

    def resolve(ref: str, platform: str, user_id: str) -> bool:
        kind = ref.split(":", 1)[0]
        if kind != platform:
            return False
        api = apis.get(Platform(platform))
        if api is None:
            return False
        try:
            return user_id in api.group_members(ref)
        except Exception:  # a platform outage refuses the approval rather than allowing it
            log.warning("group lookup failed", extra={"group": ref})
            return False

    return resolve


def _run_id(ctx: Context, raw: str) -> int:
    try:
        return int(raw.lstrip("#"))
    except ValueError:
        raise UsageError(ctx.t("A run id is a number, e.g. 12.")) from None


def _show_progress(ctx: Context, svc: RunbookService, view: RunView) -> None:
    """Execute an approved run, updating its message at each step; post the result in thread."""
    key = view.message_key

    def progress(v: RunView) -> None:
        if key:
            ctx.update(key, run_message(v, ctx.t))

    final = svc.execute(view.id, progress=progress, t=ctx.t)
    if final.started_at is None or final.state == "approved":
        return  # someone else executes it
    lines = [ctx.t("Run #{id}: {state}", id=final.id, state=state_label(final.state, ctx.t))]
    lines += list(final.messages)
    result = Message.plain("\n".join(lines))
    if key:
        ctx.post(final.channel or ctx.channel.id, result, thread_key=key)
    else:
        ctx.reply(result)


def runbook_list(ctx: Context, args: Args) -> Message | None:
    """List the runbooks."""
    return catalog_message(service(ctx).catalog, ctx.t)


def runbook_show(ctx: Context, args: Args) -> Message | None:
    """Parameters and steps of a runbook."""
    rb = service(ctx).catalog.get(args.positional[0])
    if rb is None:
        raise UsageError(
            ctx.t("No runbook named {name}; try /runbook list", name=args.positional[0][:64])
        )
    return runbook_message(rb, ctx.t)


def runbook_run(ctx: Context, args: Args) -> Message | None:
    """Request a run: parameters, pre-checks and dry run, then the approval message."""
    svc = service(ctx)
    ev = ctx.event
    name = args.positional[0]
    requester = Requester(
        ev.actor.id, str(ev.platform), ev.actor.label, ev.channel.id, ev.thread_id
    )
    dry = bool(args.opt("dry-run"))
    out = svc.request_run(
        runbook=name,
        params=args.params,
        requester=requester,
        t=ctx.t,
        dry_run_only=dry,
        request_key=f"{ev.platform}:{ev.event_id}",
        execute_auto=False,
    )
    if out.status == "dry_run" and out.plan is not None:
        demo = bool(svc.kube and svc.kube.demo)
        return plan_message(svc.catalog[name], out.plan, args.params, ctx.t, demo=demo)
    if out.run is None:
        ctx.answer(outcome_message(out, ctx.t), ephemeral=True)
        return None
    key = ctx.reply(run_message(out.run, ctx.t))
    svc.set_message_key(out.run.id, key)
    if out.status == "approved":  # policy: auto
        view = svc.status(out.run.id)
        if view is not None:
            _show_progress(ctx, svc, view)
    return None


def runbook_status(ctx: Context, args: Args) -> Message | None:
    """State of a run and its steps."""
    view = service(ctx).status(_run_id(ctx, args.positional[0]))
    if view is None:
        raise UsageError(ctx.t("No run #{id}", id=args.positional[0][:20]))
    return run_message(view, ctx.t)


def runbook_cancel(ctx: Context, args: Args) -> Message | None:
    """Cancel a run."""
    return _after(
        ctx,
        service(ctx).cancel(
            _run_id(ctx, args.positional[0]),
            actor=ctx.event.actor.id,
            platform=str(ctx.event.platform),
            t=ctx.t,
        ),
    )


def _after(ctx: Context, out: Outcome) -> Message | None:
    """Refresh the run's message; tell the clicker when nothing happened."""
    if out.run is not None and out.run.message_key:
        ctx.update(out.run.message_key, run_message(out.run, ctx.t))
    if out.status in (
        "refused",
        "not_pending",
        "not_cancellable",
        "not_resumable",
        "not_found",
        "invalid",
    ):
        ctx.reply(Message.plain(out.message), ephemeral=True)
    return None


def on_approve(ctx: Context, value: str) -> Message | None:
    """Approve: counts once per person; the last needed approval starts the run."""
    svc = service(ctx)
    ev = ctx.event
    out = svc.approve(
        _run_id(ctx, value),
        actor=ev.actor.id,
        platform=str(ev.platform),
        actor_name=ev.actor.label,
        t=ctx.t,
    )
    _after(ctx, out)
    if out.status == "approved" and out.run is not None:
        _show_progress(ctx, svc, out.run)
    return None


def on_reject(ctx: Context, value: str) -> Message | None:
    """Reject a pending run."""
    ev = ctx.event
    out = service(ctx).reject(
        _run_id(ctx, value),
        actor=ev.actor.id,
        platform=str(ev.platform),
        actor_name=ev.actor.label,
        t=ctx.t,
    )
    return _after(ctx, out)


def on_resume(ctx: Context, value: str) -> Message | None:
    """Resume an interrupted or failed run from the step that did not finish."""
    svc = service(ctx)
    ev = ctx.event
    out = svc.resume(_run_id(ctx, value), actor=ev.actor.id, platform=str(ev.platform), t=ctx.t)
    _after(ctx, out)
    if out.status == "approved" and out.run is not None:
        _show_progress(ctx, svc, out.run)
    return None


def on_cancel(ctx: Context, value: str) -> Message | None:
    """Cancel from the button under an interrupted or failed run."""
    ev = ctx.event
    out = service(ctx).cancel(
        _run_id(ctx, value), actor=ev.actor.id, platform=str(ev.platform), t=ctx.t
    )
    return _after(ctx, out)
