"""Billing cost mart: ingest log, daily rollups, per-resource daily costs, anomalies."""

from __future__ import annotations

from datetime import UTC, date, datetime

from sqlalchemy import Column, Index, Text
from sqlmodel import Field, SQLModel


def utcnow() -> datetime:
    return datetime.now(UTC)


class BillingFile(SQLModel, table=True):
    """One ingested export file (the ingest log); its rollup rows reference it."""

    __tablename__ = "billing_file"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=512, unique=True)
    content_hash: str = Field(max_length=64, index=True)
    rows_read: int = 0
    rows_rejected: int = 0
    period_start: datetime | None = None
    period_end: datetime | None = None
    ingested_at: datetime = Field(default_factory=utcnow, index=True)


class BillingCostDaily(SQLModel, table=True):
    """Daily cost by service, sub-account (project), region and charge category, per file."""

    __tablename__ = "billing_cost_daily"
    __table_args__ = (Index("ix_billing_cost_daily_day", "day", "currency"),)

    id: int | None = Field(default=None, primary_key=True)
    file_id: int = Field(foreign_key="billing_file.id", index=True)
    day: date
    currency: str = Field(max_length=3)
    service: str = Field(default="", max_length=255)
    service_category: str = Field(default="", max_length=64)
    project: str = Field(default="", max_length=255)
    project_name: str = Field(default="", max_length=255)
    region: str = Field(default="", max_length=64)
    charge_category: str = Field(default="", max_length=32)
    billed_cost: float = 0.0
    effective_cost: float = 0.0
    rows: int = 0


class BillingTagDaily(SQLModel, table=True):
    """Daily cost by one selected tag key and its value, per file."""

    __tablename__ = "billing_tag_daily"
    __table_args__ = (Index("ix_billing_tag_daily_key_day", "tag_key", "day"),)

    id: int | None = Field(default=None, primary_key=True)
    file_id: int = Field(foreign_key="billing_file.id", index=True)
    day: date
    currency: str = Field(max_length=3)
    tag_key: str = Field(max_length=64)
    tag_value: str = Field(default="", max_length=255)
    billed_cost: float = 0.0
    effective_cost: float = 0.0


class BillingResource(SQLModel, table=True):
    """One resource line: (resource id, currency, service, project, region) once, with its name.

    The per-resource rollups reference it by integer, so they stay narrow; `key` is the MD5 of
    the five identifying values (a short unique key whatever their length).
    """

    __tablename__ = "billing_resource"

    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(max_length=32, unique=True, index=True)
    resource_id: str = Field(max_length=1024)
    currency: str = Field(max_length=3)
    service: str = Field(default="", max_length=255)
    project: str = Field(default="", max_length=255)
    region: str = Field(default="", max_length=64)
    resource_name: str = Field(default="", max_length=255)


class BillingResourceDaily(SQLModel, table=True):
    """Daily cost per resource line (integer key into `billing_resource`), per file.

    `(resource, day, billed_cost)` serves per-resource period sums (one short index range per
    resource); `(day, resource, billed_cost)` serves a day's top resources and day-range scans.
    """

    __tablename__ = "billing_resource_day"
    __table_args__ = (
        Index("ix_billing_resource_day_resource", "resource", "day", "billed_cost"),
        Index("ix_billing_resource_day_day", "day", "resource", "billed_cost"),
    )

    id: int | None = Field(default=None, primary_key=True)
    file_id: int = Field(index=True)  # billing_file.id (no FK: see docs/billing.md)
    day: date
    resource: int  # billing_resource.id
    billed_cost: float = 0.0
    effective_cost: float = 0.0


class BillingAnomaly(SQLModel, table=True):
    """A detected daily cost anomaly; `key` is stable so each one is reported once."""

    __tablename__ = "billing_anomaly"

    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(max_length=512, unique=True)
    dimension: str = Field(max_length=16)
    value: str = Field(max_length=255)
    currency: str = Field(max_length=3)
    day: date = Field(index=True)
    actual: float
    expected: float
    impact: float
    score: float
    contributors: str = Field(default="[]", sa_column=Column(Text, nullable=False))
    status: str = Field(default="open", max_length=16, index=True)
    detected_at: datetime = Field(default_factory=utcnow)
    notified_at: datetime | None = None
    feedback_by: str | None = Field(default=None, max_length=255)
    feedback_at: datetime | None = None


class BillingResourceWeekly(SQLModel, table=True):
    """Weekly (ISO week, Monday) cost per resource, per file: long periods read weeks, not days."""

    __tablename__ = "billing_resource_week"
    __table_args__ = (
        Index("ix_billing_resource_week_resource", "resource", "week", "billed_cost"),
        Index("ix_billing_resource_week_week", "week", "resource", "billed_cost"),
    )

    id: int | None = Field(default=None, primary_key=True)
    file_id: int = Field(index=True)  # billing_file.id (no FK: see docs/billing.md)
    week: date
    resource: int  # billing_resource.id
    billed_cost: float = 0.0
    effective_cost: float = 0.0
