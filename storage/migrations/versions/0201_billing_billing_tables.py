"""billing tables

Revision ID: 0201_billing
Revises: 0001_core
Create Date: 2026-11-29 18:23:12.762030
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0201_billing"
down_revision: str | Sequence[str] | None = "0001_core"
branch_labels: str | Sequence[str] | None = ("billing",)
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "billing_anomaly",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", sqlmodel.sql.sqltypes.AutoString(length=512), nullable=False),
        sa.Column("dimension", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("value", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
        sa.Column("currency", sqlmodel.sql.sqltypes.AutoString(length=3), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("actual", sa.Float(), nullable=False),
        sa.Column("expected", sa.Float(), nullable=False),
        sa.Column("impact", sa.Float(), nullable=False),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("contributors", sa.Text(), nullable=False),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("detected_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("notified_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column("feedback_by", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=True),
        sa.Column("feedback_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("key"),
    )
    with op.batch_alter_table("billing_anomaly", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_billing_anomaly_day"), ["day"], unique=False)
        batch_op.create_index(batch_op.f("ix_billing_anomaly_status"), ["status"], unique=False)

    op.create_table(
        "billing_file",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=512), nullable=False),
        sa.Column("content_hash", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("rows_read", sa.Integer(), nullable=False),
        sa.Column("rows_rejected", sa.Integer(), nullable=False),
        sa.Column("period_start", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column("period_end", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column("ingested_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("name"),
    )
    with op.batch_alter_table("billing_file", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_billing_file_content_hash"), ["content_hash"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_billing_file_ingested_at"), ["ingested_at"], unique=False
        )

    op.create_table(
        "billing_cost_daily",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("file_id", sa.Integer(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("currency", sqlmodel.sql.sqltypes.AutoString(length=3), nullable=False),
        sa.Column("service", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
        sa.Column("service_category", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("project", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
        sa.Column("project_name", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
        sa.Column("region", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("charge_category", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("billed_cost", sa.Float(), nullable=False),
        sa.Column("effective_cost", sa.Float(), nullable=False),
        sa.Column("rows", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["file_id"],
            ["billing_file.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("billing_cost_daily", schema=None) as batch_op:
        batch_op.create_index("ix_billing_cost_daily_day", ["day", "currency"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_billing_cost_daily_file_id"), ["file_id"], unique=False
        )

    op.create_table(
        "billing_resource_daily",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("file_id", sa.Integer(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("currency", sqlmodel.sql.sqltypes.AutoString(length=3), nullable=False),
        sa.Column("resource_id", sqlmodel.sql.sqltypes.AutoString(length=1024), nullable=False),
        sa.Column("resource_name", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
        sa.Column("service", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
        sa.Column("project", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
        sa.Column("region", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("billed_cost", sa.Float(), nullable=False),
        sa.Column("effective_cost", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(
            ["file_id"],
            ["billing_file.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("billing_resource_daily", schema=None) as batch_op:
        batch_op.create_index("ix_billing_resource_daily_day", ["day", "currency"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_billing_resource_daily_file_id"), ["file_id"], unique=False
        )

    op.create_table(
        "billing_tag_daily",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("file_id", sa.Integer(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("currency", sqlmodel.sql.sqltypes.AutoString(length=3), nullable=False),
        sa.Column("tag_key", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("tag_value", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
        sa.Column("billed_cost", sa.Float(), nullable=False),
        sa.Column("effective_cost", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(
            ["file_id"],
            ["billing_file.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("billing_tag_daily", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_billing_tag_daily_file_id"), ["file_id"], unique=False)
        batch_op.create_index("ix_billing_tag_daily_key_day", ["tag_key", "day"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("billing_tag_daily", schema=None) as batch_op:
        batch_op.drop_index("ix_billing_tag_daily_key_day")
        batch_op.drop_index(batch_op.f("ix_billing_tag_daily_file_id"))

    op.drop_table("billing_tag_daily")
    with op.batch_alter_table("billing_resource_daily", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_billing_resource_daily_file_id"))
        batch_op.drop_index("ix_billing_resource_daily_day")

    op.drop_table("billing_resource_daily")
    with op.batch_alter_table("billing_cost_daily", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_billing_cost_daily_file_id"))
        batch_op.drop_index("ix_billing_cost_daily_day")

    op.drop_table("billing_cost_daily")
    with op.batch_alter_table("billing_file", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_billing_file_ingested_at"))
        batch_op.drop_index(batch_op.f("ix_billing_file_content_hash"))

    op.drop_table("billing_file")
    with op.batch_alter_table("billing_anomaly", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_billing_anomaly_status"))
        batch_op.drop_index(batch_op.f("ix_billing_anomaly_day"))

    op.drop_table("billing_anomaly")
