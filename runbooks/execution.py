"""Executing a run once: claim it (approved -> running), record each step's start before it
runs and its end after, stop on failure or cancellation, recover after a crash."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from runbooks.model import StepSpec
from runbooks.runs import RunView
from runbooks.steps import KINDS, StepContext, StepFailed, StepResult
from runbooks.steps.base import default_t
from runbooks.templating import render
from storage import audit
from storage import runbooks as repo
from storage.db import unit_of_work
from storage.models.runbooks import RunbookStep

if TYPE_CHECKING:
    from runbooks.service import RunbookService

log = logging.getLogger(__name__)
STALE_AFTER = timedelta(minutes=10)  # a running run silent this long is taken over
Translate = Callable[..., str]


def execute(
    svc: RunbookService,
    run_id: int,
    progress: Callable[[RunView], None] | None = None,
    t: Translate = default_t,
) -> RunView:
    """Run an approved run's steps, once: only the caller that moves it to running executes."""
    now = svc.clock()
    with unit_of_work(svc.engine) as s:
        claimed = repo.transition(
            s,
            run_id=run_id,
            from_states=[repo.APPROVED],
            to_state=repo.RUNNING,
            started_at=now,
            heartbeat_at=now,
            executor=svc.executor_id,
        )
        if claimed:
            audit.append(
                s,
                actor=f"executor:{svc.executor_id}",
                action="runbook.started",
                subject=f"run:{run_id}",
                data={},
            )
        run = repo.get_run(s, run_id=run_id)
        if run is None:
            raise KeyError(run_id)
        view = svc.view(s, run)
    if not claimed:
        return view
    rb = svc.catalog[run.runbook]
    params = json.loads(run.params)
    ctx = svc._ctx(t, dry_run=False)
    ctx.sleep = _heartbeat_sleep(svc, run_id, ctx.sleep, t)
    notify(svc, progress, run_id)
    for idx, (phase, spec) in enumerate(rb.all_steps()):
        if idx < run.resume_from:
            continue
        if not run_step(svc, run_id, idx, phase, spec, params, ctx, t, progress):
            break
    else:
        with unit_of_work(svc.engine) as s:
            if repo.transition(
                s,
                run_id=run_id,
                from_states=[repo.RUNNING],
                to_state=repo.SUCCEEDED,
                finished_at=svc.clock(),
            ):
                audit.append(
                    s,
                    actor=f"executor:{svc.executor_id}",
                    action="runbook.succeeded",
                    subject=f"run:{run_id}",
                    data={},
                )
    final = svc.status(run_id)
    assert final is not None
    if progress:
        progress(final)
    return final


HEARTBEAT_EVERY = 30.0


def _heartbeat_sleep(
    svc: RunbookService, run_id: int, sleep: Callable[[float], None], t: Translate
) -> Callable[[float], None]:
    """A sleep for long waits that keeps the run's heartbeat fresh (so no other replica takes
    it over) and stops early when the run was cancelled meanwhile."""

    def beat_sleep(seconds: float) -> None:
        left = seconds
        while left > 0:
            chunk = min(left, HEARTBEAT_EVERY)
            sleep(chunk)
            left -= chunk
            with unit_of_work(svc.engine) as s:
                alive = repo.touch(
                    s,
                    run_id=run_id,
                    state=repo.RUNNING,
                    only_executor=svc.executor_id,
                    heartbeat_at=svc.clock(),
                )
            if not alive:
                raise StepFailed(t("The run was cancelled or taken over during the wait"))

    return beat_sleep


def notify(svc: RunbookService, progress: Callable[[RunView], None] | None, run_id: int) -> None:
    if progress is None:
        return
    view = svc.status(run_id)
    if view is not None:
        try:
            progress(view)
        except Exception:
            log.exception("runbook progress callback failed")


def run_step(
    svc: RunbookService,
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
    with unit_of_work(svc.engine) as s:
        # Still ours and still running? (a cancel between steps stops here)
        if not repo.touch(
            s,
            run_id=run_id,
            state=repo.RUNNING,
            only_executor=svc.executor_id,
            heartbeat_at=svc.clock(),
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
                started_at=svc.clock(),
            ),
        )
        step_id = step.id
        assert step_id is not None
    notify(svc, progress, run_id)
    error: str | None = None
    result: StepResult | None = None
    try:
        if svc._when(spec, params):
            result = KINDS[spec.kind].run(ctx, render(spec.args, params))
        else:
            result = StepResult(True, t("skipped"))
    except StepFailed as exc:
        error = exc.message
    except Exception as exc:
        log.exception("runbook step crashed")
        error = t("The step crashed: {error}", error=str(exc) or type(exc).__name__)
    with unit_of_work(svc.engine) as s:
        state = "succeeded" if error is None else "failed"
        if result is not None and result.summary == t("skipped") and not svc._when(spec, params):
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
        # Lock order everywhere: the run row first, then the audit chain (no deadlocks).
        if error is not None:
            repo.transition(
                s,
                run_id=run_id,
                from_states=[repo.RUNNING],
                to_state=repo.FAILED,
                finished_at=svc.clock(),
                reason=error,
                resume_from=idx,
            )
        repo.finish_step(
            s,
            step_id=step_id,
            state=state,
            finished_at=svc.clock(),
            output=output,
            error=error,
        )
        audit.append(
            s,
            actor=f"executor:{svc.executor_id}",
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
            audit.append(
                s,
                actor=f"executor:{svc.executor_id}",
                action="runbook.failed",
                subject=f"run:{run_id}",
                data={"idx": idx, "error": error},
            )
    notify(svc, progress, run_id)
    return error is None


# ---- housekeeping ---------------------------------------------------------------------


def mark_interrupted_on_startup(
    svc: RunbookService, *, stale_after: timedelta = STALE_AFTER
) -> list[int]:
    """Runs left `running` by this executor (or silent for `stale_after`) become interrupted;
    their running step is marked interrupted. Nothing is re-run."""
    now = svc.clock()
    done = []
    with unit_of_work(svc.engine) as s:
        running = repo.runs_in_state(s, states=[repo.RUNNING], limit=1000)
    for candidate in running:
        # One transaction per run: never hold the audit lock while waiting for a run's row.
        with unit_of_work(svc.engine) as s:
            run = repo.load_run(s, run_id=candidate.id)  # type: ignore[arg-type]
            assert run.id is not None
            stale = run.heartbeat_at is None or run.heartbeat_at <= now - stale_after
            if run.executor != svc.executor_id and not stale:
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
