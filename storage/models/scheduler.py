"""Scheduler tables: the leader lease (with a fencing token) and one row per job run slot."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, Index, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from storage.models.core import utcnow


class SchedulerLease(SQLModel, table=True):
    """Who fires jobs: one row per lease name; `token` grows by one on every change of holder."""

    __tablename__ = "scheduler_lease"

    name: str = Field(primary_key=True, max_length=64)
    holder: str = Field(default="", max_length=255)
    token: int = 0
    expires_at: datetime = Field(default_factory=utcnow)
    acquired_at: datetime = Field(default_factory=utcnow)


class JobRun(SQLModel, table=True):
    """A job's run for one scheduled slot; (job_id, slot) is unique, so a slot runs once."""

    __tablename__ = "job_run"
    __table_args__ = (
        UniqueConstraint("job_id", "slot", name="uq_job_run_slot"),
        Index("ix_job_run_status", "status", "token"),
    )

    id: int | None = Field(default=None, primary_key=True)
    job_id: str = Field(max_length=128)
    slot: str = Field(max_length=40)  # the scheduled time, ISO 8601 in UTC
    scheduled_at: datetime
    holder: str = Field(max_length=255)
    token: int = 0
    status: str = Field(default="running", max_length=16)  # running|done|failed|skipped
    started_at: datetime = Field(default_factory=utcnow)
    finished_at: datetime | None = None
    error: str | None = Field(default=None, sa_column=Column(Text))
