"""The runbook service: request (validate, pre-check, dry run, policy), approve, reject,
cancel, execute once, expire, recover after a crash, resume.

Exactly once: every state change is a compare-and-set on `runbook_run.state`, approvals take
the run row's lock first (an UPDATE) so concurrent approvers serialize, and only the caller
whose `approved -> running` update succeeds executes. Each step's start is committed before
the step runs and its end after, so a crash leaves a visible `running` step that becomes
`interrupted` and is never silently re-run.
"""

from __future__ import annotations

import json
import logging
import os
import socket
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.engine import Engine
from sqlmodel import Session

from bot.clients.kubernetes import KubeClient
from policies.engine import (
    Facts,
    GroupResolver,
    Policy,
    decide_request,
    expiry,
)
from runbooks import approvals, execution
from runbooks.execution import STALE_AFTER
from runbooks.model import Runbook, StepSpec
from runbooks.params import validate_params
from runbooks.runs import Outcome, Plan, PlannedStep, Requester, RunView, StepView
from runbooks.steps import KINDS, StepContext, StepFailed
from runbooks.steps.base import PromQuery, default_t
from runbooks.templating import render
from storage import audit
from storage import runbooks as repo
from storage.db import unit_of_work
from storage.models.runbooks import RunbookRun, RunbookStep

log = logging.getLogger(__name__)
Translate = Callable[..., str]


@dataclass
class RunbookService:
    engine: Engine
    catalog: Mapping[str, Runbook]
    policy: Policy
    kube: KubeClient | None = None
    prometheus: PromQuery | None = None
    resolve_group: GroupResolver | None = None
    executor_id: str = field(default_factory=lambda: f"{socket.gethostname()}:{os.getpid()}")
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)
    sleep: Callable[[float], None] | None = None

    # ---- helpers -------------------------------------------------------------------------
    def _ctx(self, t: Translate, *, dry_run: bool) -> StepContext:
        ctx = StepContext(
            kube=self.kube, prometheus=self.prometheus, t=t, dry_run=dry_run, now=self.clock
        )
        if self.sleep is not None:
            ctx.sleep = self.sleep
        return ctx

    def _facts(self, rb: Runbook, params: Mapping[str, Any]) -> Facts:
        scope = {k: str(render(v, dict(params)) or "") for k, v in rb.scope.items()}
        return Facts(
            runbook=rb.name,
            risk=rb.risk,
            environment=scope.get("environment", ""),
            namespace=scope.get("namespace", ""),
        )

    @staticmethod
    def _when(step: StepSpec, params: Mapping[str, Any]) -> bool:
        if not step.when:
            return True
        value = render("{{ " + step.when + " }}", dict(params))
        return str(value).strip().lower() not in ("", "false", "0", "none", "no")

    def plan(self, rb: Runbook, params: Mapping[str, Any], t: Translate = default_t) -> Plan:
        """Run pre-checks for real and every Kubernetes step as a server-side dry run."""
        ctx = self._ctx(t, dry_run=True)
        out: list[PlannedStep] = []
        for idx, (phase, spec) in enumerate(rb.all_steps()):
            args: dict[str, Any] = {}
            try:
                args = render(spec.args, dict(params))
                if not self._when(spec, params):
                    out.append(PlannedStep(idx, phase, spec.name, spec.kind, args, t("skipped")))
                    continue
                kind = KINDS[spec.kind]
                if phase == "pre_check" or kind.mutates:
                    res = kind.run(ctx, args)
                    out.append(
                        PlannedStep(
                            idx,
                            phase,
                            spec.name,
                            spec.kind,
                            args,
                            res.summary,
                            tuple(c.render() for c in res.changes),
                        )
                    )
                elif spec.kind == "notify":
                    out.append(
                        PlannedStep(idx, phase, spec.name, spec.kind, args, str(args["message"]))
                    )
                else:
                    out.append(PlannedStep(idx, phase, spec.name, spec.kind, args))
            except StepFailed as exc:
                out.append(PlannedStep(idx, phase, spec.name, spec.kind, args, error=exc.message))
            except Exception as exc:
                out.append(PlannedStep(idx, phase, spec.name, spec.kind, args, error=str(exc)))
        return Plan(tuple(out))

    def view(self, session: Session, run: RunbookRun) -> RunView:
        """The RunView of a run row (steps, approvals)."""
        assert run.id is not None
        rb = self.catalog.get(run.runbook)
        names = [(p, s) for p, s in rb.all_steps()] if rb else []
        recorded: dict[int, RunbookStep] = {}
        messages: list[str] = []
        for row in repo.steps(session, run_id=run.id):
            recorded[row.idx] = row  # last attempt wins
        for row in recorded.values():
            if row.kind == "notify" and row.state == "succeeded" and row.output:
                messages.append(json.loads(row.output).get("summary", ""))
        views = []
        for idx, (phase, spec) in enumerate(names):
            st = recorded.get(idx)
            views.append(
                StepView(
                    idx,
                    phase,
                    spec.name,
                    spec.kind,
                    st.state if st else "pending",
                    st.attempt if st else 0,
                    json.loads(st.output).get("summary") if st and st.output else None,
                    st.error if st else None,
                )
            )
        return RunView(
            id=run.id,
            runbook=run.runbook,
            title=rb.title if rb else run.runbook,
            risk=run.risk,
            state=run.state,
            params=json.loads(run.params),
            requester=run.requester,
            requester_name=run.requester_name,
            platform=run.platform,
            channel=run.channel,
            level=run.level,
            policy=json.loads(run.policy),
            plan=json.loads(run.plan),
            steps=tuple(views),
            approvals=tuple(
                (a.approver, a.approver_name, a.decision)
                for a in repo.approvals(session, run_id=run.id)
            ),
            reason=run.reason,
            message_key=run.message_key,
            created_at=run.created_at,
            expires_at=run.expires_at,
            started_at=run.started_at,
            finished_at=run.finished_at,
            messages=tuple(messages),
            demo=bool(self.kube and self.kube.demo),
        )

    def status(self, run_id: int) -> RunView | None:
        """The current view of a run, or None."""
        with unit_of_work(self.engine) as s:
            run = repo.get_run(s, run_id=run_id)
            return self.view(s, run) if run else None

    def set_message_key(self, run_id: int, key: str) -> None:
        """Remember the chat message that shows this run (updated live while it runs)."""
        with unit_of_work(self.engine) as s:
            run = s.get(RunbookRun, run_id)
            if run is not None:
                run.message_key = key
                s.add(run)

    # ---- request -------------------------------------------------------------------------
    def request_run(
        self,
        *,
        runbook: str,
        params: Mapping[str, Any],
        requester: Requester,
        t: Translate = default_t,
        dry_run_only: bool = False,
        request_key: str | None = None,
        source: str = "chat",
        execute_auto: bool = True,
        progress: Callable[[RunView], None] | None = None,
        require_approval: bool = False,
    ) -> Outcome:
        """Validate, pre-check, dry-run and apply the policy; create the run when allowed.

        Statuses: unknown_runbook, invalid (bad params or a failing pre-check/dry run),
        dry_run (stopped after the dry run), refused (policy: read-only, suggest, window),
        pending (waiting for approvals), and for auto runs the final state of the execution
        (or `approved` with execute_auto=False).
        """
        rb = self.catalog.get(runbook)
        if rb is None:
            return Outcome(
                "unknown_runbook", t("No runbook named {name}; try /runbook list", name=runbook)
            )
        values, errors = validate_params(rb, params, t)
        if errors:
            return Outcome("invalid", "\n".join(errors), errors=tuple(errors))
        facts = self._facts(rb, values)
        plan = self.plan(rb, values, t)
        if plan.errors:
            return Outcome(
                "invalid",
                t("The dry run failed:") + "\n" + "\n".join(plan.errors),
                plan=plan,
                errors=tuple(plan.errors),
            )
        if dry_run_only:
            return Outcome(
                "dry_run", t("Dry run of {name}: nothing was changed", name=rb.name), plan=plan
            )
        now = self.clock()
        decision = decide_request(self.policy, facts, now, t, require_approval=require_approval)
        if not decision.allowed:
            with unit_of_work(self.engine) as s:
                audit.append(
                    s,
                    actor=_actor(requester),
                    action="runbook.refused",
                    subject=rb.name,
                    data={"params": values, "reason": decision.reason, "level": decision.level},
                )
            return Outcome("refused", decision.reason, plan=plan, decision=decision)
        auto = decision.level == "auto"
        run = RunbookRun(
            request_key=request_key,
            runbook=rb.name,
            params=json.dumps(values, sort_keys=True),
            risk=rb.risk,
            environment=facts.environment,
            namespace=facts.namespace,
            requester=requester.user_id,
            requester_name=requester.name,
            platform=requester.platform,
            channel=requester.channel,
            thread_key=requester.thread_key,
            source=source,
            state=repo.APPROVED if auto else repo.PENDING,
            level=decision.level,
            policy=json.dumps(decision.snapshot(), sort_keys=True),
            plan=json.dumps(plan.changes),
            created_at=now,
            decided_at=now if auto else None,
            expires_at=None if auto else expiry(decision.snapshot(), now),
            reason=decision.reason,
        )
        with unit_of_work(self.engine) as s:
            run, created = repo.create_run(s, run=run)
            if created:
                audit.append(
                    s,
                    actor=_actor(requester),
                    action="runbook.requested",
                    subject=f"run:{run.id}",
                    data={
                        "runbook": rb.name,
                        "params": values,
                        "level": decision.level,
                        "plan": plan.changes,
                        "source": source,
                    },
                )
            view = self.view(s, run)
        if not created:
            return Outcome(
                "duplicate",
                t("This request was already received (run #{id})", id=view.id),
                run=view,
                plan=plan,
                decision=decision,
            )
        if auto and execute_auto:
            view = self.execute(view.id, progress=progress, t=t)
            return Outcome(view.state, decision.reason, run=view, plan=plan, decision=decision)
        return Outcome(
            "approved" if auto else "pending",
            decision.reason,
            run=view,
            plan=plan,
            decision=decision,
        )

    # ---- approvals -----------------------------------------------------------------------

    # ---- approvals, execution, housekeeping (see approvals.py, execution.py) -------------
    def approve(
        self,
        run_id: int,
        *,
        actor: str,
        platform: str,
        actor_name: str = "",
        t: Translate = default_t,
    ) -> Outcome:
        """Record an approval; when enough, move the run to `approved` (then call execute)."""
        return approvals.approve(
            self, run_id, actor=actor, platform=platform, actor_name=actor_name, t=t
        )

    def reject(
        self,
        run_id: int,
        *,
        actor: str,
        platform: str,
        actor_name: str = "",
        reason: str = "",
        t: Translate = default_t,
    ) -> Outcome:
        """Reject a pending run (an eligible approver, or the requester withdrawing it)."""
        return approvals.reject(
            self, run_id, actor=actor, platform=platform, actor_name=actor_name, reason=reason, t=t
        )

    def cancel(
        self, run_id: int, *, actor: str, platform: str, t: Translate = default_t
    ) -> Outcome:
        """Cancel a pending, approved, interrupted or running run (stops before its next step)."""
        return approvals.cancel(self, run_id, actor=actor, platform=platform, t=t)

    def resume(
        self,
        run_id: int,
        *,
        actor: str,
        platform: str,
        from_step: int | None = None,
        t: Translate = default_t,
    ) -> Outcome:
        """Continue an interrupted or failed run from a step (default: the unfinished one)."""
        return approvals.resume(
            self, run_id, actor=actor, platform=platform, from_step=from_step, t=t
        )

    def expire_due(self, now: datetime | None = None) -> list[int]:
        """Pending runs past their expiry become expired; returns their ids."""
        return approvals.expire_due(self, now)

    def execute(
        self,
        run_id: int,
        progress: Callable[[RunView], None] | None = None,
        t: Translate = default_t,
    ) -> RunView:
        """Run an approved run's steps, once: only the caller that moves it to running executes."""
        return execution.execute(self, run_id, progress, t)

    def mark_interrupted_on_startup(self, *, stale_after: timedelta = STALE_AFTER) -> list[int]:
        """Runs left running by this executor (or silent for `stale_after`) become interrupted."""
        return execution.mark_interrupted_on_startup(self, stale_after=stale_after)


def _actor(r: Requester) -> str:
    return f"{r.platform}:{r.user_id}"


def with_clock(service: RunbookService, clock: Callable[[], datetime]) -> RunbookService:
    """A copy of the service with another clock (tests, replays)."""
    return replace(service, clock=clock)
