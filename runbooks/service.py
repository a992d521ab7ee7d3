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
    Decision,
    Facts,
    GroupResolver,
    Policy,
    decide_approval,
    decide_request,
    expiry,
)
from runbooks.model import Runbook, StepSpec, state_label
from runbooks.params import validate_params
from runbooks.steps import KINDS, StepContext, StepFailed, StepResult
from runbooks.steps.base import PromQuery, default_t
from runbooks.templating import render
from storage import audit
from storage import runbooks as repo
from storage.db import unit_of_work
from storage.models.runbooks import RunbookApproval, RunbookRun, RunbookStep

log = logging.getLogger(__name__)
Translate = Callable[..., str]


@dataclass(frozen=True)
class Requester:
    user_id: str
    platform: str
    name: str = ""
    channel: str = ""
    thread_key: str | None = None


@dataclass(frozen=True)
class PlannedStep:
    idx: int
    phase: str
    name: str
    kind: str
    args: dict[str, Any]
    summary: str = ""
    changes: tuple[str, ...] = ()
    error: str | None = None


@dataclass(frozen=True)
class Plan:
    steps: tuple[PlannedStep, ...]

    @property
    def errors(self) -> list[str]:
        return [f"{s.name}: {s.error}" for s in self.steps if s.error]

    @property
    def changes(self) -> list[str]:
        return [c for s in self.steps for c in s.changes]


@dataclass(frozen=True)
class StepView:
    idx: int
    phase: str
    name: str
    kind: str
    state: str  # pending | running | succeeded | failed | skipped | interrupted
    attempt: int = 0
    output: str | None = None
    error: str | None = None


@dataclass(frozen=True)
class RunView:
    """A read-only picture of a run for messages and status commands."""

    id: int
    runbook: str
    title: str
    risk: str
    state: str
    params: dict[str, Any]
    requester: str
    requester_name: str
    platform: str
    channel: str
    level: str
    policy: dict[str, Any]
    plan: list[str]
    steps: tuple[StepView, ...]
    approvals: tuple[tuple[str, str, str], ...]  # (user id, name, decision)
    reason: str | None
    message_key: str | None
    created_at: datetime
    expires_at: datetime | None
    started_at: datetime | None
    finished_at: datetime | None
    messages: tuple[str, ...] = ()
    demo: bool = False


@dataclass(frozen=True)
class Outcome:
    """The answer of a service call: `status` (machine) and `message` (user-facing)."""

    status: str
    message: str
    run: RunView | None = None
    plan: Plan | None = None
    decision: Decision | None = None
    errors: tuple[str, ...] = ()


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
        for st in repo.steps(session, run_id=run.id):
            recorded[st.idx] = st  # last attempt wins
        for st in recorded.values():
            if st.kind == "notify" and st.state == "succeeded" and st.output:
                messages.append(json.loads(st.output).get("summary", ""))
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
        now = self.clock()
        with unit_of_work(self.engine) as s:
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
                    run=self.view(s, run),
                )
            run = repo.get_run(s, run_id=run_id)
            assert run is not None
            prior = [
                a.approver for a in repo.approvals(s, run_id=run_id) if a.decision == "approve"
            ]
            snapshot = json.loads(run.policy)
            d = decide_approval(
                snapshot,
                approver=actor,
                platform=platform,
                requester=run.requester,
                prior_approvers=prior,
                expires_at=run.expires_at,
                now=now,
                resolve_group=self.resolve_group,
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
                return Outcome("refused", d.reason, run=self.view(s, run), decision=d)
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
                return Outcome("refused", t("You already approved this run"), run=self.view(s, run))
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
                status, d.reason, run=self.view(s, repo.get_run(s, run_id=run_id)), decision=d
            )  # type: ignore[arg-type]

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
        """Reject a pending run (any eligible approver, or the requester withdrawing it)."""
        now = self.clock()
        with unit_of_work(self.engine) as s:
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
                    resolve_group=self.resolve_group,
                    t=t,
                )
                if not d.allowed:
                    return Outcome("refused", d.reason, run=self.view(s, run))
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
                    run=self.view(s, run),
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
                run=self.view(s, repo.get_run(s, run_id=run_id)),
            )  # type: ignore[arg-type]

    def cancel(
        self, run_id: int, *, actor: str, platform: str, t: Translate = default_t
    ) -> Outcome:
        """Cancel a run that is pending, approved, interrupted or failed; a running run stops
        before its next step."""
        now = self.clock()
        with unit_of_work(self.engine) as s:
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
                    run=self.view(s, run),
                )
            audit.append(
                s,
                actor=f"{platform}:{actor}",
                action="runbook.cancelled",
                subject=f"run:{run_id}",
                data={},
            )
            return Outcome("cancelled", t("Run #{id} cancelled", id=run_id), run=self.view(s, run))

    # ---- execution -----------------------------------------------------------------------
    def execute(
        self,
        run_id: int,
        progress: Callable[[RunView], None] | None = None,
        t: Translate = default_t,
    ) -> RunView:
        """Run an approved run's steps, once: only the caller that moves it to running executes."""
        now = self.clock()
        with unit_of_work(self.engine) as s:
            claimed = repo.transition(
                s,
                run_id=run_id,
                from_states=[repo.APPROVED],
                to_state=repo.RUNNING,
                started_at=now,
                heartbeat_at=now,
                executor=self.executor_id,
            )
            if claimed:
                audit.append(
                    s,
                    actor=f"executor:{self.executor_id}",
                    action="runbook.started",
                    subject=f"run:{run_id}",
                    data={},
                )
            run = repo.get_run(s, run_id=run_id)
            if run is None:
                raise KeyError(run_id)
            view = self.view(s, run)
        if not claimed:
            return view
        rb = self.catalog[run.runbook]
        params = json.loads(run.params)
        ctx = self._ctx(t, dry_run=False)
        self._notify(progress, run_id)
        for idx, (phase, spec) in enumerate(rb.all_steps()):
            if idx < run.resume_from:
                continue
            if not self._run_step(run_id, idx, phase, spec, params, ctx, t, progress):
                break
        else:
            with unit_of_work(self.engine) as s:
                if repo.transition(
                    s,
                    run_id=run_id,
                    from_states=[repo.RUNNING],
                    to_state=repo.SUCCEEDED,
                    finished_at=self.clock(),
                ):
                    audit.append(
                        s,
                        actor=f"executor:{self.executor_id}",
                        action="runbook.succeeded",
                        subject=f"run:{run_id}",
                        data={},
                    )
        final = self.status(run_id)
        assert final is not None
        if progress:
            progress(final)
        return final

    def _notify(self, progress: Callable[[RunView], None] | None, run_id: int) -> None:
        if progress is None:
            return
        view = self.status(run_id)
        if view is not None:
            try:
                progress(view)
            except Exception:
                log.exception("runbook progress callback failed")

    def _run_step(
        self,
        run_id: int,
        idx: int,
        phase: str,
        spec: StepSpec,
        params: dict[str, Any],
        ctx: StepContext,
        t: Translate,
        progress: Callable[[RunView], None] | None,
    ) -> bool:
        """Record the start, run, record the end. False stops the run (failed or cancelled)."""
        with unit_of_work(self.engine) as s:
            # Still ours and still running? (a cancel between steps stops here)
            if not repo.touch(
                s,
                run_id=run_id,
                state=repo.RUNNING,
                only_executor=self.executor_id,
                heartbeat_at=self.clock(),
            ):
                return False
            step = repo.start_step(
                s,
                step=RunbookStep(
                    run_id=run_id,
                    idx=idx,
                    phase=phase,
                    name=spec.name,
                    kind=spec.kind,
                    started_at=self.clock(),
                ),
            )
            step_id = step.id
            assert step_id is not None
        self._notify(progress, run_id)
        error: str | None = None
        result: StepResult | None = None
        try:
            if self._when(spec, params):
                result = KINDS[spec.kind].run(ctx, render(spec.args, params))
            else:
                result = StepResult(True, t("skipped"))
        except StepFailed as exc:
            error = exc.message
        except Exception as exc:
            log.exception("runbook step crashed")
            error = t("The step crashed: {error}", error=str(exc) or type(exc).__name__)
        with unit_of_work(self.engine) as s:
            state = "succeeded" if error is None else "failed"
            if (
                result is not None
                and result.summary == t("skipped")
                and not self._when(spec, params)
            ):
                state = "skipped"
            output = None
            if result is not None:
                output = json.dumps(
                    {
                        "summary": result.summary,
                        "changes": [c.render() for c in result.changes],
                        "output": result.output,
                    },
                    default=str,
                )
            repo.finish_step(
                s,
                step_id=step_id,
                state=state,
                finished_at=self.clock(),
                output=output,
                error=error,
            )
            audit.append(
                s,
                actor=f"executor:{self.executor_id}",
                action=f"runbook.step_{state}",
                subject=f"run:{run_id}",
                data={
                    "idx": idx,
                    "name": spec.name,
                    "kind": spec.kind,
                    "summary": result.summary if result else None,
                    "error": error,
                },
            )
            if error is not None:
                repo.transition(
                    s,
                    run_id=run_id,
                    from_states=[repo.RUNNING],
                    to_state=repo.FAILED,
                    finished_at=self.clock(),
                    reason=error,
                    resume_from=idx,
                )
                audit.append(
                    s,
                    actor=f"executor:{self.executor_id}",
                    action="runbook.failed",
                    subject=f"run:{run_id}",
                    data={"idx": idx, "error": error},
                )
        self._notify(progress, run_id)
        return error is None

    # ---- housekeeping ---------------------------------------------------------------------
    def expire_due(self, now: datetime | None = None) -> list[int]:
        """Pending runs past their expiry become expired; returns their ids."""
        now = now or self.clock()
        done = []
        with unit_of_work(self.engine) as s:
            for run_id in repo.due_for_expiry(s, now=now):
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

    def mark_interrupted_on_startup(
        self, *, stale_after: timedelta = timedelta(minutes=10)
    ) -> list[int]:
        """Runs left `running` by this executor (or silent for `stale_after`) become interrupted;
        their running step is marked interrupted. Nothing is re-run."""
        now = self.clock()
        done = []
        with unit_of_work(self.engine) as s:
            for run in repo.runs_in_state(s, states=[repo.RUNNING], limit=1000):
                assert run.id is not None
                stale = run.heartbeat_at is None or run.heartbeat_at <= now - stale_after
                if run.executor != self.executor_id and not stale:
                    continue
                open_steps = [st for st in repo.steps(s, run_id=run.id) if st.state == "running"]
                at = open_steps[-1].idx if open_steps else run.resume_from
                if not repo.transition(
                    s,
                    run_id=run.id,
                    from_states=[repo.RUNNING],
                    to_state=repo.INTERRUPTED,
                    reason="the bot stopped while this run was executing",
                    resume_from=at,
                ):
                    continue
                for st in open_steps:
                    assert st.id is not None
                    repo.finish_step(
                        s,
                        step_id=st.id,
                        state="interrupted",
                        finished_at=now,
                        error="interrupted: the bot stopped during this step",
                    )
                audit.append(
                    s,
                    actor="system",
                    action="runbook.interrupted",
                    subject=f"run:{run.id}",
                    data={"step": at, "executor": run.executor},
                )
                done.append(run.id)
        return done

    def resume(
        self,
        run_id: int,
        *,
        actor: str,
        platform: str,
        from_step: int | None = None,
        t: Translate = default_t,
    ) -> Outcome:
        """A human decides to continue an interrupted or failed run from a step (default: the
        one that did not finish). The run goes back to approved; call execute next."""
        with unit_of_work(self.engine) as s:
            run = repo.get_run(s, run_id=run_id)
            if run is None:
                return Outcome("not_found", t("No run #{id}", id=run_id))
            rb = self.catalog.get(run.runbook)
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
                    now=self.clock(),
                    resolve_group=self.resolve_group,
                    t=t,
                )
                if not d.allowed:
                    return Outcome("refused", d.reason, run=self.view(s, run))
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
                    run=self.view(s, run),
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
                run=self.view(s, repo.get_run(s, run_id=run_id)),
            )  # type: ignore[arg-type]


def _actor(r: Requester) -> str:
    return f"{r.platform}:{r.user_id}"


def with_clock(service: RunbookService, clock: Callable[[], datetime]) -> RunbookService:
    """A copy of the service with another clock (tests, replays)."""
    return replace(service, clock=clock)
