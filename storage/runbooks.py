"""Runbook runs: keyword-only repository functions; every state change is compare-and-set."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import func, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from storage.models.runbooks import RunbookApproval, RunbookRun, RunbookStep

PENDING = "pending_approval"
APPROVED = "approved"
RUNNING = "running"
SUCCEEDED = "succeeded"
FAILED = "failed"
CANCELLED = "cancelled"
EXPIRED = "expired"
INTERRUPTED = "interrupted"
REJECTED = "rejected"
FINAL = (SUCCEEDED, FAILED, CANCELLED, EXPIRED, REJECTED)


def create_run(session: Session, *, run: RunbookRun) -> tuple[RunbookRun, bool]:
    """Insert a run; with a `request_key` already used, return that run instead (False)."""
    if run.request_key:
        existing = session.exec(
            select(RunbookRun).where(RunbookRun.request_key == run.request_key)
        ).first()
        if existing is not None:
            return existing, False
        try:
            with session.begin_nested():
                session.add(run)
                session.flush()
        except IntegrityError:
            existing = session.exec(
                select(RunbookRun).where(RunbookRun.request_key == run.request_key)
            ).one()
            return existing, False
        return run, True
    session.add(run)
    session.flush()
    return run, True


def get_run(session: Session, *, run_id: int) -> RunbookRun | None:
    session.expire_all()
    return session.get(RunbookRun, run_id)


def load_run(session: Session, *, run_id: int) -> RunbookRun:
    """The run, freshly read; KeyError when it does not exist."""
    run = get_run(session, run_id=run_id)
    if run is None:
        raise KeyError(run_id)
    return run


def transition(
    session: Session,
    *,
    run_id: int,
    from_states: Iterable[str],
    to_state: str,
    only_executor: str | None = None,
    **values: Any,
) -> bool:
    """UPDATE ... SET state = to WHERE id = :id AND state IN (from) [AND executor = :e]."""
    stmt = (
        update(RunbookRun)
        .where(col(RunbookRun.id) == run_id, col(RunbookRun.state).in_(list(from_states)))
        .values(state=to_state, version=RunbookRun.version + 1, **values)
    )
    if only_executor is not None:
        stmt = stmt.where(col(RunbookRun.executor) == only_executor)
    return session.execute(stmt).rowcount == 1  # type: ignore[attr-defined]


def touch(
    session: Session, *, run_id: int, state: str, only_executor: str | None = None, **values: Any
) -> bool:
    """Bump the row (taking its lock) if it is still in `state`; False otherwise."""
    stmt = (
        update(RunbookRun)
        .where(col(RunbookRun.id) == run_id, col(RunbookRun.state) == state)
        .values(version=RunbookRun.version + 1, **values)
    )
    if only_executor is not None:
        stmt = stmt.where(col(RunbookRun.executor) == only_executor)
    return session.execute(stmt).rowcount == 1  # type: ignore[attr-defined]


def add_approval(session: Session, *, approval: RunbookApproval) -> bool:
    """Record a decision; False when this user already decided on this run."""
    try:
        with session.begin_nested():
            session.add(approval)
            session.flush()
    except IntegrityError:
        return False
    return True


def approvals(session: Session, *, run_id: int) -> list[RunbookApproval]:
    return list(
        session.exec(
            select(RunbookApproval)
            .where(RunbookApproval.run_id == run_id)
            .order_by(col(RunbookApproval.id))
        ).all()
    )


def start_step(session: Session, *, step: RunbookStep) -> RunbookStep:
    attempt = session.exec(
        select(func.max(RunbookStep.attempt)).where(
            RunbookStep.run_id == step.run_id, RunbookStep.idx == step.idx
        )
    ).one()
    step.attempt = (attempt or 0) + 1
    session.add(step)
    session.flush()
    return step


def finish_step(
    session: Session,
    *,
    step_id: int,
    state: str,
    finished_at: datetime,
    output: str | None = None,
    error: str | None = None,
) -> None:
    session.execute(
        update(RunbookStep)
        .where(col(RunbookStep.id) == step_id)
        .values(state=state, finished_at=finished_at, output=output, error=error)
    )


def steps(session: Session, *, run_id: int) -> list[RunbookStep]:
    return list(
        session.exec(
            select(RunbookStep)
            .where(RunbookStep.run_id == run_id)
            .order_by(col(RunbookStep.idx), col(RunbookStep.attempt))
        ).all()
    )


def runs_in_state(session: Session, *, states: Iterable[str], limit: int = 100) -> list[RunbookRun]:
    return list(
        session.exec(
            select(RunbookRun)
            .where(col(RunbookRun.state).in_(list(states)))
            .order_by(col(RunbookRun.id))
            .limit(limit)
        ).all()
    )


def due_for_expiry(session: Session, *, now: datetime) -> list[int]:
    rows = session.exec(
        select(RunbookRun.id).where(
            RunbookRun.state == PENDING,
            col(RunbookRun.expires_at).is_not(None),
            col(RunbookRun.expires_at) <= now,
        )
    ).all()
    return [r for r in rows if r is not None]


def recent_runs(session: Session, *, limit: int = 20) -> list[RunbookRun]:
    return list(
        session.exec(select(RunbookRun).order_by(col(RunbookRun.id).desc()).limit(limit)).all()
    )
