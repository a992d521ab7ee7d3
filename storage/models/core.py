"""Core tables: inbox (dedupe), outbox (delivery), audit log, preferences, local workspace."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import Column, Index, Text, UniqueConstraint
from sqlmodel import Field, SQLModel


def utcnow() -> datetime:
    return datetime.now(UTC)


class InboxEvent(SQLModel, table=True):
    """Every inbound event, recorded before the ack; (platform, event_id) is unique."""

    __tablename__ = "inbox_event"
    __table_args__ = (
        UniqueConstraint("platform", "event_id", name="uq_inbox_platform_event"),
        Index("ix_inbox_status_received", "status", "received_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    platform: str = Field(max_length=16)
    event_id: str = Field(max_length=255)
    kind: str = Field(max_length=16)
    payload: str = Field(sa_column=Column(Text, nullable=False))
    status: str = Field(default="received", max_length=16)
    received_at: datetime = Field(default_factory=utcnow)
    finished_at: datetime | None = None
    error: str | None = Field(default=None, sa_column=Column(Text))
    # the process handling it ("host:pid") and since when: when that process dies, its events
    # are known
    claimed_by: str | None = Field(default=None, max_length=64)
    claimed_at: datetime | None = None


class OutboxMessage(SQLModel, table=True):
    """An outgoing message operation, stored first, delivered by the outbox worker."""

    __tablename__ = "outbox_message"
    __table_args__ = (Index("ix_outbox_due", "status", "next_attempt_at"),)

    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(max_length=64, unique=True)
    platform: str = Field(max_length=16)
    op: str = Field(max_length=16)
    channel_id: str = Field(max_length=255)
    thread_key: str | None = Field(default=None, max_length=64)
    thread_id: str | None = Field(default=None, max_length=255)
    target_key: str | None = Field(default=None, max_length=64)
    target_ts: str | None = Field(default=None, max_length=255)
    user_id: str | None = Field(default=None, max_length=255)
    response_url: str | None = Field(default=None, sa_column=Column(Text))
    payload: str = Field(sa_column=Column(Text, nullable=False))
    status: str = Field(default="pending", max_length=16, index=True)
    attempts: int = 0
    next_attempt_at: datetime = Field(default_factory=utcnow)
    lease_until: datetime | None = None
    platform_ts: str | None = Field(default=None, max_length=255)
    platform_channel: str | None = Field(default=None, max_length=255)
    last_error: str | None = Field(default=None, sa_column=Column(Text))
    created_at: datetime = Field(default_factory=utcnow)
    sent_at: datetime | None = None


class AuditEntry(SQLModel, table=True):
    """Append-only, hash-chained audit log of every state change."""

    __tablename__ = "audit_entry"

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(default_factory=utcnow)
    actor: str = Field(max_length=255)
    action: str = Field(max_length=64, index=True)
    subject: str = Field(max_length=255)
    data: str = Field(sa_column=Column(Text, nullable=False))
    prev_hash: str = Field(max_length=64)
    hash: str = Field(max_length=64, unique=True)


class UserPref(SQLModel, table=True):
    __tablename__ = "user_pref"
    __table_args__ = (UniqueConstraint("platform", "user_id", name="uq_user_pref"),)

    id: int | None = Field(default=None, primary_key=True)
    platform: str = Field(max_length=16)
    user_id: str = Field(max_length=255)
    locale: str | None = Field(default=None, max_length=8)
    updated_at: datetime = Field(default_factory=utcnow)


class ChannelPref(SQLModel, table=True):
    __tablename__ = "channel_pref"
    __table_args__ = (UniqueConstraint("platform", "channel_id", name="uq_channel_pref"),)

    id: int | None = Field(default=None, primary_key=True)
    platform: str = Field(max_length=16)
    channel_id: str = Field(max_length=255)
    locale: str | None = Field(default=None, max_length=8)
    updated_at: datetime = Field(default_factory=utcnow)


class LocalChannel(SQLModel, table=True):
    """A channel of the local workspace."""

    __tablename__ = "local_channel"

    id: str = Field(primary_key=True, max_length=64)
    name: str = Field(max_length=80, unique=True)
    topic: str = ""
    is_shared: bool = False
    created_at: datetime = Field(default_factory=utcnow)


class LocalMessage(SQLModel, table=True):
    """A message of the local workspace; `version` grows on every insert/update (for polling)."""

    __tablename__ = "local_message"
    __table_args__ = (Index("ix_local_message_channel_version", "channel_id", "version"),)

    id: str = Field(primary_key=True, max_length=64)
    channel_id: str = Field(max_length=64)
    thread_id: str | None = Field(default=None, max_length=64)
    user_id: str = Field(max_length=64)
    user_name: str = Field(max_length=80)
    text: str = Field(sa_column=Column(Text, nullable=False))
    payload: str | None = Field(default=None, sa_column=Column(Text))
    ephemeral_for: str | None = Field(default=None, max_length=64)
    pinned: bool = False
    version: int = Field(default=0, index=True)
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)
