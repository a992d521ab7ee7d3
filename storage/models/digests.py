"""Digest subscriptions: a cron schedule and time zone per channel, and the last digest sent."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, Index, Text
from sqlmodel import Field, SQLModel

from storage.models.core import utcnow


class DigestSubscription(SQLModel, table=True):
    """A channel's scheduled digest; `last_digest` is the snapshot the next one diffs against."""

    __tablename__ = "digest_subscription"
    __table_args__ = (Index("ix_digest_subscription_channel", "platform", "channel_id"),)

    id: int | None = Field(default=None, primary_key=True)
    platform: str = Field(max_length=16)
    channel_id: str = Field(max_length=255)
    cron: str = Field(max_length=200)
    tz: str = Field(default="UTC", max_length=64)
    sections: str | None = Field(default=None, max_length=500)  # comma-separated ids
    service: str | None = Field(default=None, max_length=255)
    window: str = Field(default="1h", max_length=16)
    locale: str = Field(default="en", max_length=8)
    status: str = Field(default="active", max_length=16)  # active|cancelled
    created_by: str = Field(max_length=255)
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)
    cancelled_by: str | None = Field(default=None, max_length=255)
    cancelled_at: datetime | None = None
    last_slot: str | None = Field(default=None, max_length=40)
    last_digest: str | None = Field(default=None, sa_column=Column(Text))
