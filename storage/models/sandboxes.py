"""Partner sandboxes: a Kubernetes namespace per approved offer, created and deleted by runbooks."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, Index, Text
from sqlmodel import Field, SQLModel

from storage.models.core import utcnow

# requested: the create run waits for approval or runs; active: the namespace exists;
# expired: past expires_at, the cleanup run is underway; cleaned: deleted; failed: the create
# run did not succeed, or the cleanup was refused or failed (a human looks at it).
OPEN_STATUSES = ("requested", "active", "expired")
STATUSES = (*OPEN_STATUSES, "cleaned", "failed")


class PartnerSandbox(SQLModel, table=True):
    """One sandbox namespace of a partner offer; `status` moves only by compare-and-set."""

    __tablename__ = "partner_sandbox"
    __table_args__ = (
        Index("ix_partner_sandbox_status_expires", "status", "expires_at"),
        Index("ix_partner_sandbox_intake", "intake_id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    intake_id: int = Field(foreign_key="partner_intake.id")
    partner: str = Field(max_length=63)
    namespace: str = Field(max_length=63)
    run_id: int | None = None  # the partner-sandbox runbook run (runbook_run.id)
    cleanup_run_id: int | None = None  # the partner-sandbox-cleanup run
    requested_by: str = Field(max_length=255)
    requested_by_name: str = Field(default="", max_length=255)
    platform: str = Field(max_length=16)
    status: str = Field(default="requested", max_length=16)
    days: int = 7
    expires_at: datetime
    created_at: datetime = Field(default_factory=utcnow)
    activated_at: datetime | None = None
    warned_at: datetime | None = None
    finished_at: datetime | None = None
    updated_at: datetime = Field(default_factory=utcnow)
    error: str | None = Field(default=None, sa_column=Column(Text))
