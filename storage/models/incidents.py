"""Incidents: the incident itself, its timeline, and Alertmanager alert groups."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, Index, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from storage.models.core import utcnow

OPEN_STATES = ("investigating", "identified", "monitoring")
STATES = (*OPEN_STATES, "resolved")


class Incident(SQLModel, table=True):
    """One declared incident and its war-room channel."""

    __tablename__ = "incident"
    __table_args__ = (
        UniqueConstraint("number", name="uq_incident_number"),
        UniqueConstraint("dedupe_key", name="uq_incident_dedupe"),
        Index("ix_incident_status", "status"),
    )

    id: int | None = Field(default=None, primary_key=True)
    number: int
    title: str = Field(max_length=200)
    severity: int = 3
    service: str | None = Field(default=None, max_length=120)
    status: str = Field(default="investigating", max_length=16)
    commander_id: str | None = Field(default=None, max_length=255)
    commander_name: str | None = Field(default=None, max_length=255)
    declared_by: str = Field(max_length=255)
    declared_by_name: str = Field(default="", max_length=255)
    platform: str = Field(max_length=16)
    locale: str = Field(default="en", max_length=8)
    channel_id: str | None = Field(default=None, max_length=255)
    channel_name: str | None = Field(default=None, max_length=80)
    announce_channel_id: str | None = Field(default=None, max_length=255)
    announce_key: str | None = Field(default=None, max_length=64)
    header_key: str | None = Field(default=None, max_length=64)
    header_pinned: bool = False
    declared_at: datetime = Field(default_factory=utcnow)
    first_update_at: datetime | None = None
    last_update_at: datetime | None = None
    last_update_text: str | None = Field(default=None, sa_column=Column(Text))
    resolved_at: datetime | None = None
    resolution_note: str | None = Field(default=None, sa_column=Column(Text))
    mttr_seconds: float | None = None
    time_to_first_update_seconds: float | None = None
    summary_json: str | None = Field(default=None, sa_column=Column(Text))
    summary_mode: str | None = Field(default=None, max_length=16)
    summarized_at: datetime | None = None
    summary_count: int = 0
    status_slot: int = 0
    last_status_post_at: datetime | None = None
    source: str = Field(default="command", max_length=16)
    dedupe_key: str = Field(max_length=255)


class TimelineEntry(SQLModel, table=True):
    """One thing that happened during an incident (declare, status, summary, alert, resolve)."""

    __tablename__ = "incident_timeline"
    __table_args__ = (Index("ix_incident_timeline_incident_at", "incident_id", "at"),)

    id: int | None = Field(default=None, primary_key=True)
    incident_id: int = Field(foreign_key="incident.id")
    at: datetime = Field(default_factory=utcnow)
    kind: str = Field(max_length=16)
    actor: str = Field(default="", max_length=255)
    text: str = Field(default="", sa_column=Column(Text, nullable=False))
    message_key: str | None = Field(default=None, max_length=64)
    link: str | None = Field(default=None, sa_column=Column(Text))


class AlertGroup(SQLModel, table=True):
    """One Alertmanager group (by group key): its one chat message, state and incident."""

    __tablename__ = "alert_group"
    __table_args__ = (UniqueConstraint("group_key", name="uq_alert_group_key"),)

    id: int | None = Field(default=None, primary_key=True)
    group_key: str = Field(sa_column=Column(Text, nullable=False))
    receiver: str = Field(default="", max_length=255)
    status: str = Field(default="firing", max_length=16)
    title: str = Field(default="", max_length=300)
    labels_json: str = Field(default="{}", sa_column=Column(Text, nullable=False))
    payload_json: str = Field(default="{}", sa_column=Column(Text, nullable=False))
    payload_hash: str = Field(default="", max_length=64)
    platform: str = Field(max_length=16)
    channel_id: str = Field(max_length=255)
    message_key: str | None = Field(default=None, max_length=64)
    incident_id: int | None = Field(default=None, foreign_key="incident.id")
    acked_by: str | None = Field(default=None, max_length=255)
    acked_at: datetime | None = None
    silence_id: str | None = Field(default=None, max_length=64)
    silenced_by: str | None = Field(default=None, max_length=255)
    first_seen_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)
