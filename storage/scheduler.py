"""The scheduler's leader lease and job-run records (keyword-only functions taking a Session).

The lease is taken with compare-and-set on its fencing token; a job run is claimed by inserting
its (job_id, slot) row, finished with compare-and-set on (status, token).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import Session, select

from storage.models.scheduler import JobRun, SchedulerLease

EPOCH = datetime(2000, 1, 1, tzinfo=UTC)


def slot_key(slot: datetime) -> str:
    """The stable name of a scheduled time: ISO 8601 in UTC, whole seconds."""
    return slot.astimezone(UTC).replace(microsecond=0).isoformat()


def _insert(session: Session):  # type: ignore[no-untyped-def]
    bind = session.get_bind()
    return pg_insert if bind.dialect.name == "postgresql" else sqlite_insert


# -- lease ---------------------------------------------------------------------------------
def acquire_lease(
    session: Session,
    *,
    name: str,
    holder: str,
    token: int | None,
    now: datetime,
    ttl: timedelta,
) -> int | None:
    """Renew (when `token` is ours) or take an expired lease; return our token, else None."""
    session.exec(
        _insert(session)(SchedulerLease)
        .values(name=name, holder="", token=0, expires_at=EPOCH, acquired_at=EPOCH)
        .on_conflict_do_nothing(index_elements=["name"])
    )
    if token is not None:
        renewed = session.exec(
            update(SchedulerLease)
            .where(
                SchedulerLease.name == name,
                SchedulerLease.holder == holder,
                SchedulerLease.token == token,
            )
            .values(expires_at=now + ttl)
        ).rowcount
        if renewed:
            return token
    row = session.exec(select(SchedulerLease).where(SchedulerLease.name == name)).one()
    if row.holder == holder and row.expires_at > now:
        # ours already (a concurrent renew in this process took it): renew, hand the token back
        current = row.token
        renewed = session.exec(
            update(SchedulerLease)
            .where(SchedulerLease.name == name, SchedulerLease.token == current)
            .values(expires_at=now + ttl)
        ).rowcount
        return current if renewed else None
    if row.holder and row.expires_at > now:
        return None
    current = row.token  # read before the UPDATE (it synchronizes the loaded row)
    won = session.exec(
        update(SchedulerLease)
        .where(SchedulerLease.name == name, SchedulerLease.token == current)
        .values(holder=holder, token=current + 1, expires_at=now + ttl, acquired_at=now)
    ).rowcount
    return current + 1 if won else None


def release_lease(session: Session, *, name: str, holder: str, token: int, now: datetime) -> bool:
    """Give the lease up (a clean shutdown): another replica takes it at its next attempt."""
    return bool(
        session.exec(
            update(SchedulerLease)
            .where(
                SchedulerLease.name == name,
                SchedulerLease.holder == holder,
                SchedulerLease.token == token,
            )
            .values(holder="", expires_at=now)
        ).rowcount
    )


def lease(session: Session, *, name: str) -> SchedulerLease | None:
    return session.exec(select(SchedulerLease).where(SchedulerLease.name == name)).first()


# -- job runs ------------------------------------------------------------------------------
def claim_run(
    session: Session,
    *,
    job_id: str,
    slot: datetime,
    holder: str,
    token: int,
    now: datetime,
    status: str = "running",
) -> bool:
    """Insert the run row for (job_id, slot); True when this caller won the slot."""
    inserted = session.exec(
        _insert(session)(JobRun)
        .values(
            job_id=job_id,
            slot=slot_key(slot),
            scheduled_at=slot,
            holder=holder,
            token=token,
            status=status,
            started_at=now,
            finished_at=now if status != "running" else None,
        )
        .on_conflict_do_nothing(index_elements=["job_id", "slot"])
        .returning(JobRun.id)
    ).first()
    return inserted is not None


def finish_run(
    session: Session,
    *,
    job_id: str,
    slot: datetime,
    token: int,
    now: datetime,
    status: str = "done",
    error: str | None = None,
) -> bool:
    """Mark our running row finished; False when another leader has taken the run over."""
    return bool(
        session.exec(
            update(JobRun)
            .where(
                JobRun.job_id == job_id,
                JobRun.slot == slot_key(slot),
                JobRun.status == "running",
                JobRun.token == token,
            )
            .values(status=status, finished_at=now, error=error)
        ).rowcount
    )


def take_over_run(
    session: Session, *, run_id: int, from_token: int, holder: str, token: int, now: datetime
) -> bool:
    """Adopt a run a previous leader left `running` (it died or lost the lease mid-run)."""
    return bool(
        session.exec(
            update(JobRun)
            .where(JobRun.id == run_id, JobRun.status == "running", JobRun.token == from_token)
            .values(holder=holder, token=token, started_at=now)
        ).rowcount
    )


def interrupted_runs(session: Session, *, token: int) -> list[JobRun]:
    """Runs still `running` under an older leadership term than `token`."""
    return list(
        session.exec(
            select(JobRun)
            .where(JobRun.status == "running", JobRun.token < token)
            .order_by(JobRun.scheduled_at)
        ).all()
    )


def recorded_slots(session: Session, *, job_id: str, slots: list[datetime]) -> set[str]:
    keys = [slot_key(s) for s in slots]
    if not keys:
        return set()
    rows = session.exec(select(JobRun.slot).where(JobRun.job_id == job_id, JobRun.slot.in_(keys)))
    return set(rows.all())


def runs(session: Session, *, job_id: str) -> list[JobRun]:
    return list(
        session.exec(select(JobRun).where(JobRun.job_id == job_id).order_by(JobRun.slot)).all()
    )


def prune_runs(session: Session, *, before: datetime) -> int:
    """Forget finished runs scheduled before `before`; returns how many rows went."""
    return int(
        session.exec(
            delete(JobRun).where(JobRun.scheduled_at < before, JobRun.status != "running")
        ).rowcount
    )
