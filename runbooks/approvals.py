"""Approve, reject, cancel, resume, expire: compare-and-set transitions with audit entries."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING

from policies.engine import decide_approval
from runbooks.model import state_label
from runbooks.runs import Outcome
from runbooks.steps.base import default_t
from storage import audit
from storage import runbooks as repo
from storage.db import unit_of_work
from storage.models.runbooks import RunbookApproval

if TYPE_CHECKING:
    from runbooks.service import RunbookService

log = logging.getLogger(__name__)
Translate = Callable[..., str]


def approve(
    svc: RunbookService,
    run_id: int,
    *,
    actor: str,
    platform: str,
    actor_name: str = "",
    t: Translate = default_t,
) -> Outcome:
    """Record an approval; when enough, move the run to `approved` (then call execute)."""
    now = svc.clock()
    with unit_of_work(svc.engine) as s:
        # The UPDATE locks the run row: concurrent approvals of one run serialize here.
        if not repo.touch(s, run_id=run_id, state=repo.PENDING):
            run = repo.get_run(s, run_id=run_id)
            if run is None:
                return Outcome("not_found", t("No run #{id}", id=run_id))
            return Outcome(
                "not_pending",
                t(
                    "Run #{id} is {state}; nothing to approve",
                    id=run_id,
                    state=state_label(run.state, t),
                ),
                run=svc.view(s, run),
            )
        run = repo.get_run(s, run_id=run_id)
        assert run is not None
        prior = [a.approver for a in repo.approvals(s, run_id=run_id) if a.decision == "approve"]
        snapshot = json.loads(run.policy)
        d = decide_approval(
            snapshot,
            approver=actor,
            platform=platform,
            requester=run.requester,
            prior_approvers=prior,
            expires_at=run.expires_at,
            now=now,
            resolve_group=svc.resolve_group,
            t=t,
        )
        if not d.allowed:
            audit.append(
                s,
                actor=f"{platform}:{actor}",
                action="runbook.approval_refused",
                subject=f"run:{run_id}",
                data={"reason": d.reason},
            )
            return Outcome("refused", d.reason, run=svc.view(s, run), decision=d)
        if not repo.add_approval(
            s,
            approval=RunbookApproval(
                run_id=run_id,
                approver=actor,
                approver_name=actor_name,
                platform=platform,
                decision="approve",
                at=now,
            ),
        ):
            return Outcome("refused", t("You already approved this run"), run=svc.view(s, run))
        audit.append(
            s,
            actor=f"{platform}:{actor}",
            action="runbook.approved",
            subject=f"run:{run_id}",
            data={
                "approvals": len(prior) + 1,
                "required": snapshot.get("approvals_required", 1),
            },
        )
        need = int(snapshot.get("approvals_required", 1))
        if len(prior) + 1 >= need:
            repo.transition(
                s,
                run_id=run_id,
                from_states=[repo.PENDING],
                to_state=repo.APPROVED,
                decided_at=now,
            )
            status = "approved"
        else:
            status = "recorded"
        return Outcome(
            status, d.reason, run=svc.view(s, repo.load_run(s, run_id=run_id)), decision=d
        )


def reject(
    svc: RunbookService,
    run_id: int,
    *,
    actor: str,
    platform: str,
    actor_name: str = "",
    reason: str = "",
    t: Translate = default_t,
) -> Outcome:
    """Reject a pending run (any eligible approver, or the requester withdrawing it)."""
    now = svc.clock()
    with unit_of_work(svc.engine) as s:
        run = repo.get_run(s, run_id=run_id)
        if run is None:
            return Outcome("not_found", t("No run #{id}", id=run_id))
        snapshot = json.loads(run.policy)
        if actor != run.requester:
            d = decide_approval(
                {**snapshot, "requester_may_approve": True},
                approver=actor,
                platform=platform,
                requester=run.requester,
                prior_approvers=[],
                expires_at=None,
                now=now,
                resolve_group=svc.resolve_group,
                t=t,
            )
            if not d.allowed:
                return Outcome("refused", d.reason, run=svc.view(s, run))
        if not repo.transition(
            s,
            run_id=run_id,
            from_states=[repo.PENDING],
            to_state=repo.REJECTED,
            decided_at=now,
            finished_at=now,
            reason=reason or None,
        ):
            return Outcome(
                "not_pending",
                t(
                    "Run #{id} is {state}; nothing to reject",
                    id=run_id,
                    state=state_label(run.state, t),
                ),
                run=svc.view(s, run),
            )
        repo.add_approval(
            s,
            approval=RunbookApproval(
                run_id=run_id,
                approver=actor,
                approver_name=actor_name,
                platform=platform,
                decision="reject",
                comment=reason or None,
                at=now,
            ),
        )
        audit.append(
            s,
            actor=f"{platform}:{actor}",
            action="runbook.rejected",
            subject=f"run:{run_id}",
            data={"reason": reason},
        )
        return Outcome(
            "rejected",
            t("Run #{id} rejected", id=run_id),
            run=svc.view(s, repo.load_run(s, run_id=run_id)),
        )


def cancel(
    svc: RunbookService, run_id: int, *, actor: str, platform: str, t: Translate = default_t
) -> Outcome:
    """Cancel a run that is pending, approved, interrupted or failed; a running run stops
    before its next step."""
    now = svc.clock()
    with unit_of_work(svc.engine) as s:
        ok = repo.transition(
            s,
            run_id=run_id,
            from_states=[repo.PENDING, repo.APPROVED, repo.RUNNING, repo.INTERRUPTED],
            to_state=repo.CANCELLED,
            finished_at=now,
            reason=f"cancelled by {actor}",
        )
        run = repo.get_run(s, run_id=run_id)
        if run is None:
            return Outcome("not_found", t("No run #{id}", id=run_id))
        if not ok:
            return Outcome(
                "not_cancellable",
                t(
                    "Run #{id} is {state}; it cannot be cancelled",
                    id=run_id,
                    state=state_label(run.state, t),
                ),
                run=svc.view(s, run),
            )
        audit.append(
            s,
            actor=f"{platform}:{actor}",
            action="runbook.cancelled",
            subject=f"run:{run_id}",
            data={},
        )
        return Outcome("cancelled", t("Run #{id} cancelled", id=run_id), run=svc.view(s, run))


# ---- execution -----------------------------------------------------------------------


def expire_due(svc: RunbookService, now: datetime | None = None) -> list[int]:
    """Pending runs past their expiry become expired; returns their ids."""
    now = now or svc.clock()
    done = []
    with unit_of_work(svc.engine) as s:
        due = repo.due_for_expiry(s, now=now)
    for run_id in due:
        # One transaction per run: never hold the audit lock while waiting for a run's row.
        with unit_of_work(svc.engine) as s:
            if repo.transition(
                s,
                run_id=run_id,
                from_states=[repo.PENDING],
                to_state=repo.EXPIRED,
                finished_at=now,
                reason="approval expired",
            ):
                audit.append(
                    s,
                    actor="system",
                    action="runbook.expired",
                    subject=f"run:{run_id}",
                    data={},
                )
                done.append(run_id)
    return done


def resume(
    svc: RunbookService,
    run_id: int,
    *,
    actor: str,
    platform: str,
    from_step: int | None = None,
    t: Translate = default_t,
) -> Outcome:
    """A human decides to continue an interrupted or failed run from a step (default: the
    one that did not finish). The run goes back to approved; call execute next."""
    with unit_of_work(svc.engine) as s:
        run = repo.get_run(s, run_id=run_id)
        if run is None:
            return Outcome("not_found", t("No run #{id}", id=run_id))
        rb = svc.catalog.get(run.runbook)
        total = len(rb.all_steps()) if rb else 0
        start = run.resume_from if from_step is None else from_step
        if not 0 <= start < total:
            return Outcome(
                "invalid", t("Step {n} does not exist (0–{last})", n=start, last=total - 1)
            )
        snapshot = json.loads(run.policy)
        if snapshot.get("groups"):
            d = decide_approval(
                {**snapshot, "requester_may_approve": True},
                approver=actor,
                platform=platform,
                requester=run.requester,
                prior_approvers=[],
                expires_at=None,
                now=svc.clock(),
                resolve_group=svc.resolve_group,
                t=t,
            )
            if not d.allowed:
                return Outcome("refused", d.reason, run=svc.view(s, run))
        if not repo.transition(
            s,
            run_id=run_id,
            from_states=[repo.INTERRUPTED, repo.FAILED],
            to_state=repo.APPROVED,
            resume_from=start,
            finished_at=None,
        ):
            return Outcome(
                "not_resumable",
                t(
                    "Run #{id} is {state}; only interrupted or failed runs can be resumed",
                    id=run_id,
                    state=state_label(run.state, t),
                ),
                run=svc.view(s, run),
            )
        audit.append(
            s,
            actor=f"{platform}:{actor}",
            action="runbook.resumed",
            subject=f"run:{run_id}",
            data={"from_step": start},
        )
        return Outcome(
            "approved",
            t("Run #{id} resumes at step {n}", id=run_id, n=start + 1),
            run=svc.view(s, repo.load_run(s, run_id=run_id)),
        )
