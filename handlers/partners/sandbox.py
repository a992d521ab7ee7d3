"""Partner sandboxes: `/partner sandbox <id> [--days N] [--status]` and the expiry job.

A request goes through the runbook service like `/runbook run partner-sandbox ...` (dry run,
approval message, second-person approval, execution, audit); the sandbox row links the run to
the offer. The job (every 5 minutes, once per slot across replicas) settles requests whose run
finished, posts a reminder a day before expiry, and deletes expired sandboxes through the
`partner-sandbox-cleanup` runbook, which the automation policy runs without a human: its step
only deletes a namespace labeled as that partner's sandbox whose own expiry annotation passed.
Every status change is a compare-and-set, and each thread post is written in the same
transaction as the change it announces, so a post happens once however often the job runs.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlmodel import Session

from bot import outbox
from bot.i18n import N_, Translator, translator
from bot.messages import Message, Section, user_text
from bot.router import UsageError
from handlers.partners import flow
from handlers.runbooks import _show_progress, service_for
from runbooks.messages import outcome_message, run_message
from runbooks.model import state_label
from runbooks.runs import Outcome, Requester, RunView
from runbooks.service import RunbookService, with_clock
from storage import audit
from storage import partners as intakes
from storage import sandboxes as repo
from storage.db import unit_of_work
from storage.models.partners import Intake
from storage.models.sandboxes import PartnerSandbox

if TYPE_CHECKING:
    from bot.context import Context, Runtime
    from bot.scheduler import JobContext

log = logging.getLogger(__name__)

RUNBOOK = "partner-sandbox"
CLEANUP_RUNBOOK = "partner-sandbox-cleanup"
JOB_ID = "partners:sandboxes"
JOB_EVERY = timedelta(minutes=5)
DEFAULT_DAYS = 7
MAX_DAYS = 30
WARN_BEFORE = timedelta(days=1)
ELIGIBLE = ("approved", "published")
SYSTEM = "copilot"
# run states after which a request is over without a sandbox (failed/interrupted runs can
# still be resumed by a human, so they stay `requested`)
RUN_GAVE_UP = ("rejected", "expired", "cancelled")
STATUS_LABEL = {
    "requested": N_("requested (waiting for approval or running)"),
    "active": N_("active"),
    "expired": N_("expired, being deleted"),
    "cleaned": N_("deleted"),
    "failed": N_("failed"),
}


def partner_name(intake: Intake) -> str:
    """The runbook's `partner` parameter: the offer slug as a DNS label of at most 42
    characters (the namespace is `partner-<name>`, 63 at most)."""
    base = re.sub(r"[^a-z0-9-]+", "-", intake.slug.lower()).strip("-") or f"offer-{intake.id}"
    if len(base) > 42:
        suffix = f"-{intake.id}"
        base = base[: 42 - len(suffix)].rstrip("-") + suffix
    return base


def iso(at: datetime) -> str:
    return at.strftime("%Y-%m-%dT%H:%M:%SZ")


# ---- /partner sandbox ----------------------------------------------------------------------
def _may_use(ctx: Context, intake: Intake) -> None:
    """Staff anywhere; the partner (an external user) only in its own offer's channel."""
    if ctx.event.actor.is_external and ctx.event.channel.id != intake.channel_id:
        raise UsageError(ctx.t("Only the partner manager can do this."))


def request(ctx: Context, intake: Intake, *, days: int | None) -> Message | None:
    """Request the partner-sandbox runbook for an approved offer; link the run to the offer."""
    _may_use(ctx, intake)
    if intake.state not in ELIGIBLE:
        raise UsageError(
            ctx.t(
                "Only an approved or published offer can get a sandbox (#{id} is {state}).",
                id=intake.id,
                state=ctx.t(flow.STATE_LABEL.get(intake.state, intake.state)),
            )
        )
    n = DEFAULT_DAYS if days is None else days
    if not 1 <= n <= MAX_DAYS:
        raise UsageError(ctx.t("--days must be between 1 and {max}, got {n}.", max=MAX_DAYS, n=n))
    with ctx.session() as s:
        current = repo.open_for_intake(s, intake_id=intake.id or 0)
    if current is not None:
        raise UsageError(
            ctx.t(
                "Offer #{id} already has a sandbox: {ns} ({status}). See `/partner sandbox {id} "
                "--status`.",
                id=intake.id,
                ns=current.namespace,
                status=ctx.t(STATUS_LABEL[current.status]),
            )
        )
    now = ctx.now()
    expires = now + timedelta(days=n)
    partner = partner_name(intake)
    svc = service_for(ctx.runtime)
    ev = ctx.event
    out = svc.request_run(
        runbook=RUNBOOK,
        params={"partner": partner, "expires_at": iso(expires)},
        requester=Requester(
            ev.actor.id, str(ev.platform), ev.actor.label, ev.channel.id, ev.thread_id
        ),
        t=ctx.t,
        request_key=f"{ev.platform}:{ev.event_id}",
        source="partner",
        execute_auto=False,
    )
    if out.run is None or out.status == "duplicate":
        ctx.answer(outcome_message(out, ctx.t), ephemeral=True)
        return None
    run = out.run
    with ctx.session() as s:
        row = repo.create(
            s,
            intake_id=intake.id or 0,
            partner=partner,
            namespace=f"partner-{partner}",
            run_id=run.id,
            requested_by=ev.actor.id,
            requested_by_name=ev.actor.label,
            platform=str(ev.platform),
            status="requested",
            days=n,
            expires_at=expires,
            created_at=now,
            updated_at=now,
        )
        ctx.audit(
            "partner.sandbox_requested",
            f"partner_intake:{intake.id}",
            {
                "sandbox": row.id,
                "run": run.id,
                "namespace": row.namespace,
                "expires_at": iso(expires),
            },
        )
        key = ctx.reply(run_message(run, ctx.t))
        flow.post_thread(
            ctx,
            intake,
            Message.plain(
                ctx.t(
                    "{who} requested sandbox {ns} for {days} days (run #{run}); it is created "
                    "after approval and deleted on {at}.",
                    who=ctx.mention(),
                    ns=row.namespace,
                    days=n,
                    run=run.id,
                    at=ctx.i18n.datetime(expires),
                )
            ),
        )
    svc.set_message_key(run.id, key)
    if out.status == "approved":  # a policy that runs it without approval
        view = svc.status(run.id)
        if view is not None:
            _show_progress(ctx, svc, view)
    return None


def status(ctx: Context, intake: Intake) -> Message | None:
    """The offer's sandboxes: namespace, state, expiry, runs."""
    _may_use(ctx, intake)
    settle_requests(ctx.runtime, ctx.now(), intake_id=intake.id)
    with ctx.session() as s:
        rows = repo.for_intake(s, intake_id=intake.id or 0)[:5]
    ctx.answer(status_message(ctx.i18n, intake, rows, ctx.now()), ephemeral=True)
    return None


def status_message(
    fmt: Translator, intake: Intake, rows: list[PartnerSandbox], now: datetime
) -> Message:
    """State and expiry of an offer's latest sandboxes."""
    t = fmt.t
    offer = user_text(intake.offer_name or intake.slug, limit=120)
    if not rows:
        return Message.plain(
            t(
                "{offer} (#{id}) has no sandbox. Request one with `/partner sandbox {id}`.",
                offer=offer,
                id=intake.id,
            )
        )
    title = t("Sandboxes of {offer} (#{id})", offer=offer, id=intake.id)
    blocks: list[Any] = []
    for row in rows:
        when = fmt.datetime(row.expires_at)
        if row.status in ("requested", "active"):
            expiry = t("deleted on {at} ({rel})", at=when, rel=fmt.ago(row.expires_at, now))
        else:
            expiry = when
        fields = [
            (t("State"), t(STATUS_LABEL.get(row.status, row.status))),
            (t("Expiry"), expiry),
            (t("Requested by"), row.requested_by_name or row.requested_by),
        ]
        if row.run_id:
            fields.append((t("Create run"), f"`/runbook status {row.run_id}`"))
        if row.cleanup_run_id:
            fields.append((t("Cleanup run"), f"`/runbook status {row.cleanup_run_id}`"))
        text = f"**{row.namespace}**"
        if row.error:
            text += "\n" + user_text(row.error, limit=1000)
        blocks.append(Section(text=text, fields=fields))
    return Message(text=title, blocks=[Section(text=f"**{title}**"), *blocks])


# ---- the job -------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Due:
    sandbox: PartnerSandbox
    intake: Intake


def _post_thread(s: Session, intake: Intake, text: str) -> str:
    """Queue a post in the offer's intake thread (in the caller's transaction)."""
    return outbox.enqueue(
        s,
        platform=intake.platform,
        op="post",
        channel_id=intake.channel_id,
        message=Message.plain(text),
        thread_id=intake.thread_ts,
        thread_key=None if intake.thread_ts else intake.root_key,
    )


def _load(runtime: Runtime, rows: list[PartnerSandbox]) -> list[_Due]:
    out = []
    with unit_of_work(runtime.engine) as s:
        for row in rows:
            intake = intakes.get(s, intake_id=row.intake_id)
            if intake is not None:
                out.append(_Due(row, intake))
    return out


def settle_requests(runtime: Runtime, now: datetime, *, intake_id: int | None = None) -> None:
    """Requested sandboxes whose create run succeeded become active (announced in the offer's
    thread); runs rejected, expired or cancelled make the sandbox failed."""
    svc = service_for(runtime)
    with unit_of_work(runtime.engine) as s:
        rows = [
            r
            for r in repo.with_status(s, statuses=["requested"])
            if intake_id is None or r.intake_id == intake_id
        ]
    for due in _load(runtime, rows):
        row, intake = due.sandbox, due.intake
        view = svc.status(row.run_id) if row.run_id else None
        state = view.state if view is not None else "cancelled"
        if state == "succeeded":
            values: dict[str, Any] = {"status": "active", "activated_at": now}
        elif state in RUN_GAVE_UP:
            values = {"status": "failed", "finished_at": now, "error": f"run {state}"}
        else:
            continue
        t = translator(intake.locale)
        with unit_of_work(runtime.engine) as s:
            if not repo.transition(
                s, sandbox_id=row.id or 0, from_statuses=["requested"], now=now, **values
            ):
                continue
            audit.append(
                s,
                actor="system",
                action=f"partner.sandbox_{values['status']}",
                subject=f"partner_intake:{intake.id}",
                data={"sandbox": row.id, "run": row.run_id, "namespace": row.namespace},
            )
            if values["status"] == "active":
                text = t.t(
                    "Sandbox {ns} is ready. It will be deleted on {at}.",
                    ns=row.namespace,
                    at=t.datetime(row.expires_at),
                )
            else:
                text = t.t(
                    "Sandbox {ns} was not created: run #{run} is {state}.",
                    ns=row.namespace,
                    run=row.run_id,
                    state=state_label(state, t.t),
                )
            _post_thread(s, intake, text)


def remind(runtime: Runtime, now: datetime) -> None:
    """One reminder in the offer's thread a day before a sandbox (of 2+ days) is deleted."""
    with unit_of_work(runtime.engine) as s:
        rows = [
            r
            for r in repo.with_status(s, statuses=["active"])
            if r.warned_at is None and r.days > 1 and now < r.expires_at <= now + WARN_BEFORE
        ]
    for due in _load(runtime, rows):
        row, intake = due.sandbox, due.intake
        t = translator(intake.locale)
        with unit_of_work(runtime.engine) as s:
            if repo.mark_warned(s, sandbox_id=row.id or 0, now=now):
                _post_thread(
                    s,
                    intake,
                    t.t(
                        "Sandbox {ns} will be deleted {rel} ({at}).",
                        ns=row.namespace,
                        rel=t.ago(row.expires_at, now),
                        at=t.datetime(row.expires_at),
                    ),
                )


def _failure(out: Outcome, run: RunView | None) -> str:
    if run is not None:
        errors = [s.error for s in run.steps if s.error]
        return errors[-1] if errors else run.reason or run.state
    return out.message


def _ask_for_approval(
    runtime: Runtime, svc: RunbookService, intake: Intake, run: RunView, t: Translator
) -> None:
    """When the policy makes the cleanup wait for a human, show its approval request in the
    offer's thread (the Approve button then deletes the namespace)."""
    with unit_of_work(runtime.engine) as s:
        key = outbox.enqueue(
            s,
            platform=intake.platform,
            op="post",
            channel_id=intake.channel_id,
            message=run_message(run, t.t),
            thread_id=intake.thread_ts,
            thread_key=None if intake.thread_ts else intake.root_key,
        )
    svc.set_message_key(run.id, key)


def clean_up(runtime: Runtime, now: datetime) -> list[int]:
    """Delete expired sandboxes through the cleanup runbook; returns the ids settled now."""
    svc = with_clock(service_for(runtime), runtime.clock)  # the job's clock judges expiry
    with unit_of_work(runtime.engine) as s:
        rows = repo.due(s, now=now)
    settled = []
    for due in _load(runtime, rows):
        row, intake = due.sandbox, due.intake
        t = translator(intake.locale)
        with unit_of_work(runtime.engine) as s:
            repo.transition(
                s, sandbox_id=row.id or 0, from_statuses=["active"], now=now, status="expired"
            )
        out = svc.request_run(
            runbook=CLEANUP_RUNBOOK,
            params={"partner": row.partner},
            requester=Requester(SYSTEM, intake.platform, "Console Copilot", intake.channel_id),
            t=t.t,
            request_key=f"partner-sandbox:{row.id}:cleanup",
            source="scheduler",
            execute_auto=True,
        )
        run = out.run
        if out.status == "pending" and run is not None:
            _ask_for_approval(runtime, svc, intake, run, t)
        if run is not None and run.state not in ("succeeded", "failed", *RUN_GAVE_UP):
            continue  # still running (or waiting for a human): look again next time
        ok = run is not None and run.state == "succeeded"
        error = None if ok else _failure(out, run)[:2000]
        with unit_of_work(runtime.engine) as s:
            if not repo.transition(
                s,
                sandbox_id=row.id or 0,
                from_statuses=["expired"],
                now=now,
                status="cleaned" if ok else "failed",
                cleanup_run_id=run.id if run else None,
                finished_at=now,
                error=error,
            ):
                continue
            audit.append(
                s,
                actor="system",
                action="partner.sandbox_cleaned" if ok else "partner.sandbox_cleanup_failed",
                subject=f"partner_intake:{intake.id}",
                data={"sandbox": row.id, "run": run.id if run else None, "error": error},
            )
            if ok:
                text = t.t(
                    "Sandbox {ns} expired and was deleted (run #{run}).",
                    ns=row.namespace,
                    run=run.id if run else "—",
                )
            else:
                text = t.t(
                    "Sandbox {ns} expired but was not deleted: {error}\nA person has to check "
                    "it; `/runbook run partner-sandbox-cleanup partner={partner}` retries.",
                    ns=row.namespace,
                    error=user_text(error or "", limit=1000),
                    partner=row.partner,
                )
            _post_thread(s, intake, text)
        settled.append(row.id or 0)
    return settled


def sandbox_job(ctx: JobContext) -> None:
    """Settle finished requests, remind a day before expiry, delete expired sandboxes."""
    now = ctx.now()
    settle_requests(ctx.runtime, now)
    remind(ctx.runtime, now)
    for sandbox_id in clean_up(ctx.runtime, now):
        log.info("partner sandbox expired", extra={"sandbox": sandbox_id})


def register_jobs(scheduler: Any) -> None:
    """The sandbox job, every 5 minutes, on the scheduler leader."""
    scheduler.add_job(JOB_ID, sandbox_job, every=JOB_EVERY)
