"""Compliance: guardrail scans and their findings; feedback on the bot's posts."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, Index, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from storage.models.core import utcnow


class GuardrailScan(SQLModel, table=True):
    """One scan of the cluster (or of one namespace) against the guardrail policy."""

    __tablename__ = "guardrail_scan"

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(default_factory=utcnow, index=True)
    scope: str = Field(default="", max_length=255)  # namespace, "" = whole cluster
    trigger: str = Field(default="command", max_length=16)  # command | schedule
    actor: str = Field(default="", max_length=255)
    workloads: int = 0
    compliant: int = 0
    findings: int = 0


class GuardrailFinding(SQLModel, table=True):
    """One violation found by a scan; `params` (JSON) fill the rule's translated texts."""

    __tablename__ = "guardrail_finding"
    __table_args__ = (Index("ix_guardrail_finding_scan", "scan_id", "rule"),)

    id: int | None = Field(default=None, primary_key=True)
    scan_id: int = Field(foreign_key="guardrail_scan.id")
    kind: str = Field(max_length=32)
    namespace: str = Field(max_length=255)
    name: str = Field(max_length=255)
    rule: str = Field(max_length=64)
    severity: str = Field(max_length=16)
    subject: str = Field(default="", max_length=255)
    fingerprint: str = Field(max_length=700)
    params: str = Field(default="{}", sa_column=Column(Text, nullable=False))


class Feedback(SQLModel, table=True):
    """A 👍/👎 on a post of the bot; one vote per person and subject (a new click replaces it)."""

    __tablename__ = "post_feedback"
    __table_args__ = (
        UniqueConstraint("platform", "user_id", "subject", name="uq_post_feedback_vote"),
    )

    id: int | None = Field(default=None, primary_key=True)
    platform: str = Field(max_length=16)
    user_id: str = Field(max_length=255)
    subject: str = Field(max_length=255)  # e.g. digest:12, incident:3:summary
    kind: str = Field(default="", max_length=32)  # digest | summary | answer
    vote: str = Field(max_length=8)  # up | down
    channel_id: str = Field(default="", max_length=255)
    message_id: str | None = Field(default=None, max_length=255)
    context: str = Field(default="{}", sa_column=Column(Text, nullable=False))
    at: datetime = Field(default_factory=utcnow, index=True)
