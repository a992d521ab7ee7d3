"""Partner intake: one intake per offer (a chat thread) and every answer with who gave it."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, Index, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from storage.models.core import utcnow

ACTIVE_STATES = ("collecting", "checklist")
STATES = (
    *ACTIVE_STATES,
    "review",
    "changes_requested",
    "approved",
    "rejected",
    "published",
    "cancelled",
)


class Intake(SQLModel, table=True):
    """An intake conversation about one partner offer (all its state lives here)."""

    __tablename__ = "partner_intake"
    __table_args__ = (
        UniqueConstraint("slug", name="uq_partner_intake_slug"),
        UniqueConstraint("root_key", name="uq_partner_intake_root"),
        Index("ix_partner_intake_thread", "platform", "channel_id", "thread_ts"),
        Index("ix_partner_intake_state", "state"),
    )

    id: int | None = Field(default=None, primary_key=True)
    platform: str = Field(max_length=16)
    channel_id: str = Field(max_length=255)
    channel_name: str = Field(default="", max_length=255)
    root_key: str = Field(max_length=64)
    thread_ts: str | None = Field(default=None, max_length=255)
    offer_name: str = Field(default="", max_length=200)
    slug: str = Field(max_length=120)
    state: str = Field(default="collecting", max_length=24)
    current: str | None = Field(default=None, max_length=64)
    answers_json: str = Field(default="{}", sa_column=Column(Text, nullable=False))
    meta_json: str = Field(default="{}", sa_column=Column(Text, nullable=False))
    locale: str = Field(default="en", max_length=8)
    requester_id: str = Field(max_length=255)
    requester_name: str = Field(default="", max_length=255)
    review_key: str | None = Field(default=None, max_length=64)
    reviewer_id: str | None = Field(default=None, max_length=255)
    review_note: str | None = Field(default=None, sa_column=Column(Text))
    score: int | None = None
    coverage: float | None = None
    started_at: datetime = Field(default_factory=utcnow)
    completed_at: datetime | None = None
    reviewed_at: datetime | None = None
    published_at: datetime | None = None
    updated_at: datetime = Field(default_factory=utcnow)


class IntakeAnswer(SQLModel, table=True):
    """One accepted answer: which question, the stored value, and who said it."""

    __tablename__ = "partner_intake_answer"
    __table_args__ = (Index("ix_partner_answer_intake", "intake_id"),)

    id: int | None = Field(default=None, primary_key=True)
    intake_id: int = Field(foreign_key="partner_intake.id")
    question: str = Field(max_length=64)
    value_json: str = Field(sa_column=Column(Text, nullable=False))
    raw: str = Field(default="", sa_column=Column(Text, nullable=False))
    user_id: str = Field(max_length=255)
    user_name: str = Field(default="", max_length=255)
    is_external: bool = False
    answered_at: datetime = Field(default_factory=utcnow)
