"""scheduler and digest subscription tables

Revision ID: 0601_scheduler
Revises: 0001_core
Create Date: 2026-11-29 18:47:25.707733
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0601_scheduler"
down_revision: str | Sequence[str] | None = "0001_core"
branch_labels: str | Sequence[str] | None = ("scheduler",)
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "digest_subscription",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("platform", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("channel_id", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
        sa.Column("cron", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("tz", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("sections", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=True),
        sa.Column("service", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=True),
        sa.Column("window", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("locale", sqlmodel.sql.sqltypes.AutoString(length=8), nullable=False),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("created_by", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("updated_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("cancelled_by", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=True),
        sa.Column("cancelled_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column("last_slot", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=True),
        sa.Column("last_digest", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("digest_subscription", schema=None) as batch_op:
        batch_op.create_index(
            "ix_digest_subscription_channel", ["platform", "channel_id"], unique=False
        )

    op.create_table(
        "job_run",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("job_id", sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
        sa.Column("slot", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("scheduled_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("holder", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
        sa.Column("token", sa.Integer(), nullable=False),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("started_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("finished_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("job_id", "slot", name="uq_job_run_slot"),
    )
    with op.batch_alter_table("job_run", schema=None) as batch_op:
        batch_op.create_index("ix_job_run_status", ["status", "token"], unique=False)

    op.create_table(
        "scheduler_lease",
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("holder", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
        sa.Column("token", sa.Integer(), nullable=False),
        sa.Column("expires_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("acquired_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )


def downgrade() -> None:
    op.drop_table("scheduler_lease")
    with op.batch_alter_table("job_run", schema=None) as batch_op:
        batch_op.drop_index("ix_job_run_status")

    op.drop_table("job_run")
    with op.batch_alter_table("digest_subscription", schema=None) as batch_op:
        batch_op.drop_index("ix_digest_subscription_channel")

    op.drop_table("digest_subscription")
