"""billing: integer resource keys for the per-resource rollups

`billing_resource` holds each (resource id, currency) once with its name; the daily and weekly
per-resource rollups reference it by integer and are indexed by (resource, day) so a period sum
is one short index range per resource. Existing rows are carried over.

Revision ID: 0203_billing_resource_keys
Revises: 0202_billing_cover
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0203_billing_resource_keys"
down_revision: str | Sequence[str] | None = "0202_billing_cover"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_STR = sqlmodel.sql.sqltypes.AutoString


def line_key(resource_id: str, currency: str, service: str, project: str, region: str) -> str:
    """The same key ingest computes in DuckDB: md5 of the five values joined by U+001F."""
    joined = "\x1f".join((resource_id, currency, service, project, region))
    return hashlib.md5(joined.encode()).hexdigest()


def upgrade() -> None:
    op.create_table(
        "billing_resource",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", _STR(length=32), nullable=False),
        sa.Column("resource_id", _STR(length=1024), nullable=False),
        sa.Column("currency", _STR(length=3), nullable=False),
        sa.Column("service", _STR(length=255), nullable=False),
        sa.Column("project", _STR(length=255), nullable=False),
        sa.Column("region", _STR(length=64), nullable=False),
        sa.Column("resource_name", _STR(length=255), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_billing_resource_key", "billing_resource", ["key"], unique=True)
    op.create_table(
        "billing_resource_day",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("file_id", sa.Integer(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("resource", sa.Integer(), nullable=False),
        sa.Column("billed_cost", sa.Float(), nullable=False),
        sa.Column("effective_cost", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "billing_resource_week",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("file_id", sa.Integer(), nullable=False),
        sa.Column("week", sa.Date(), nullable=False),
        sa.Column("resource", sa.Integer(), nullable=False),
        sa.Column("billed_cost", sa.Float(), nullable=False),
        sa.Column("effective_cost", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    conn = op.get_bind()
    lines = conn.execute(
        sa.text(
            "SELECT resource_id, currency, service, project, region, max(resource_name) "
            "FROM billing_resource_daily GROUP BY resource_id, currency, service, project, region"
        )
    ).all()
    if lines:
        conn.execute(
            sa.text(
                "INSERT INTO billing_resource (key, resource_id, currency, service, project, "
                "region, resource_name) VALUES (:k, :r, :c, :s, :p, :g, :n)"
            ),
            [
                {"k": line_key(r, c, s, p, g), "r": r, "c": c, "s": s, "p": p, "g": g, "n": n or ""}
                for r, c, s, p, g, n in lines
            ],
        )
    op.execute(
        "INSERT INTO billing_resource_day (file_id, day, resource, billed_cost, effective_cost) "
        "SELECT d.file_id, d.day, r.id, d.billed_cost, d.effective_cost "
        "FROM billing_resource_daily d JOIN billing_resource r "
        "ON r.resource_id = d.resource_id AND r.currency = d.currency AND r.service = d.service "
        "AND r.project = d.project AND r.region = d.region"
    )
    # a week row belongs to one line of its resource (the first); the weekly total is unchanged
    op.execute(
        "INSERT INTO billing_resource_week (file_id, week, resource, billed_cost, effective_cost) "
        "SELECT w.file_id, w.week, (SELECT r.id FROM billing_resource r "
        "WHERE r.resource_id = w.resource_id AND r.currency = w.currency ORDER BY r.id LIMIT 1), "
        "w.billed_cost, w.effective_cost FROM billing_resource_weekly w"
    )
    for table in ("billing_resource_day", "billing_resource_week"):
        op.create_index(f"ix_{table}_file_id", table, ["file_id"])
    op.create_index(
        "ix_billing_resource_day_resource",
        "billing_resource_day",
        ["resource", "day", "billed_cost"],
    )
    op.create_index(
        "ix_billing_resource_day_day", "billing_resource_day", ["day", "resource", "billed_cost"]
    )
    op.create_index(
        "ix_billing_resource_week_resource",
        "billing_resource_week",
        ["resource", "week", "billed_cost"],
    )
    op.create_index(
        "ix_billing_resource_week_week",
        "billing_resource_week",
        ["week", "resource", "billed_cost"],
    )
    op.drop_table("billing_resource_weekly")
    op.drop_table("billing_resource_daily")


def downgrade() -> None:
    op.create_table(
        "billing_resource_daily",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("file_id", sa.Integer(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("currency", _STR(length=3), nullable=False),
        sa.Column("resource_id", _STR(length=1024), nullable=False),
        sa.Column("resource_name", _STR(length=255), nullable=False),
        sa.Column("service", _STR(length=255), nullable=False),
        sa.Column("project", _STR(length=255), nullable=False),
        sa.Column("region", _STR(length=64), nullable=False),
        sa.Column("billed_cost", sa.Float(), nullable=False),
        sa.Column("effective_cost", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(["file_id"], ["billing_file.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "billing_resource_weekly",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("file_id", sa.Integer(), nullable=False),
        sa.Column("week", sa.Date(), nullable=False),
        sa.Column("currency", _STR(length=3), nullable=False),
        sa.Column("resource_id", _STR(length=1024), nullable=False),
        sa.Column("resource_name", _STR(length=255), nullable=False),
        sa.Column("billed_cost", sa.Float(), nullable=False),
        sa.Column("effective_cost", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(["file_id"], ["billing_file.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.execute(
        "INSERT INTO billing_resource_daily (file_id, day, currency, resource_id, resource_name, "
        "service, project, region, billed_cost, effective_cost) "
        "SELECT d.file_id, d.day, r.currency, r.resource_id, r.resource_name, r.service, "
        "r.project, r.region, d.billed_cost, d.effective_cost "
        "FROM billing_resource_day d JOIN billing_resource r ON r.id = d.resource"
    )
    op.execute(
        "INSERT INTO billing_resource_weekly (file_id, week, currency, resource_id, "
        "resource_name, billed_cost, effective_cost) "
        "SELECT w.file_id, w.week, r.currency, r.resource_id, r.resource_name, w.billed_cost, "
        "w.effective_cost FROM billing_resource_week w JOIN billing_resource r ON r.id = w.resource"
    )
    for table in ("billing_resource_daily", "billing_resource_weekly"):
        op.create_index(f"ix_{table}_file_id", table, ["file_id"])
    op.create_index(
        "ix_billing_resource_daily_cover",
        "billing_resource_daily",
        ["day", "currency", "resource_id", "billed_cost"],
    )
    op.create_index(
        "ix_billing_resource_weekly_cover",
        "billing_resource_weekly",
        ["week", "currency", "resource_id", "billed_cost"],
    )
    op.drop_table("billing_resource_week")
    op.drop_table("billing_resource_day")
    op.drop_table("billing_resource")
