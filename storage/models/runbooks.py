"""Runbook runs, their approvals and their steps."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, Index, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from storage.models.core import utcnow


class RunbookRun(SQLModel, table=True):
    """One requested run; `state` only moves by compare-and-set (see storage/runbooks.py)."""

    __tablename__ = "runbook_run"
    __table_args__ = (Index("ix_runbook_run_state_expires", "state", "expires_at"),)

    id: int | None = Field(default=None, primary_key=True)
    request_key: str | None = Field(default=None, max_length=255, unique=True)
    runbook: str = Field(max_length=64, index=True)
    params: str = Field(sa_column=Column(Text, nullable=False))
    risk: str = Field(max_length=16)
    environment: str = Field(default="", max_length=64)
    namespace: str = Field(default="", max_length=255)
    requester: str = Field(max_length=255)
    requester_name: str = Field(default="", max_length=255)
    platform: str = Field(max_length=16)
    channel: str = Field(default="", max_length=255)
    thread_key: str | None = Field(default=None, max_length=64)
    message_key: str | None = Field(default=None, max_length=64)
    source: str = Field(default="chat", max_length=16)
    state: str = Field(default="pending_approval", max_length=24)
    level: str = Field(default="approval", max_length=16)
    policy: str = Field(sa_column=Column(Text, nullable=False))
    plan: str = Field(default="[]", sa_column=Column(Text, nullable=False))
    dry_run_only: bool = False
    resume_from: int = 0
    executor: str | None = Field(default=None, max_length=255)
    heartbeat_at: datetime | None = None
    reason: str | None = Field(default=None, sa_column=Column(Text))
    version: int = 0
    created_at: datetime = Field(default_factory=utcnow)
    decided_at: datetime | None = None
    expires_at: datetime | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None


class RunbookApproval(SQLModel, table=True):
    """An approval or rejection; one per (run, user) so a double click counts once."""

    __tablename__ = "runbook_approval"
    __table_args__ = (UniqueConstraint("run_id", "approver", name="uq_runbook_approval_user"),)

    id: int | None = Field(default=None, primary_key=True)
    run_id: int = Field(foreign_key="runbook_run.id", index=True)
    approver: str = Field(max_length=255)
    approver_name: str = Field(default="", max_length=255)
    platform: str = Field(max_length=16)
    decision: str = Field(max_length=16)  # approve | reject
    comment: str | None = Field(default=None, sa_column=Column(Text))
    at: datetime = Field(default_factory=utcnow)


class RunbookStep(SQLModel, table=True):
    """One execution of one step; start and end are stored so a crash is visible."""

    __tablename__ = "runbook_step"
    __table_args__ = (UniqueConstraint("run_id", "idx", "attempt", name="uq_runbook_step_attempt"),)

    id: int | None = Field(default=None, primary_key=True)
    run_id: int = Field(foreign_key="runbook_run.id", index=True)
    idx: int
    attempt: int = 1
    phase: str = Field(max_length=16)
    name: str = Field(max_length=255)
    kind: str = Field(max_length=32)
    state: str = Field(default="running", max_length=16)
    started_at: datetime = Field(default_factory=utcnow)
    finished_at: datetime | None = None
    output: str | None = Field(default=None, sa_column=Column(Text))
    error: str | None = Field(default=None, sa_column=Column(Text))
