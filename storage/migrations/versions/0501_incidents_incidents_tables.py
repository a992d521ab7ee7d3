"""incidents tables

Revision ID: 0501_incidents
Revises: 0001_core
Create Date: 2026-11-29 18:45:25.775839
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0501_incidents"
down_revision: str | Sequence[str] | None = "0001_core"
branch_labels: str | Sequence[str] | None = ("incidents",)
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "incident",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("title", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("severity", sa.Integer(), nullable=False),
        sa.Column("service", sqlmodel.sql.sqltypes.AutoString(length=120), nullable=True),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("commander_id", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=True),
        sa.Column("commander_name", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=True),
        sa.Column("declared_by", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
        sa.Column("declared_by_name", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
        sa.Column("platform", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("locale", sqlmodel.sql.sqltypes.AutoString(length=8), nullable=False),
        sa.Column("channel_id", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=True),
        sa.Column("channel_name", sqlmodel.sql.sqltypes.AutoString(length=80), nullable=True),
        sa.Column(
            "announce_channel_id", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=True
        ),
        sa.Column("announce_key", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column("header_key", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column("header_pinned", sa.Boolean(), nullable=False),
        sa.Column("declared_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("first_update_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column("last_update_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column("last_update_text", sa.Text(), nullable=True),
        sa.Column("resolved_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column("resolution_note", sa.Text(), nullable=True),
        sa.Column("mttr_seconds", sa.Float(), nullable=True),
        sa.Column("time_to_first_update_seconds", sa.Float(), nullable=True),
        sa.Column("summary_json", sa.Text(), nullable=True),
        sa.Column("summary_mode", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=True),
        sa.Column("summarized_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column("summary_count", sa.Integer(), nullable=False),
        sa.Column("status_slot", sa.Integer(), nullable=False),
        sa.Column("last_status_post_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column("source", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("dedupe_key", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("dedupe_key", name="uq_incident_dedupe"),
        sa.UniqueConstraint("number", name="uq_incident_number"),
    )
    with op.batch_alter_table("incident", schema=None) as batch_op:
        batch_op.create_index("ix_incident_status", ["status"], unique=False)

    op.create_table(
        "alert_group",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("group_key", sa.Text(), nullable=False),
        sa.Column("receiver", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("title", sqlmodel.sql.sqltypes.AutoString(length=300), nullable=False),
        sa.Column("labels_json", sa.Text(), nullable=False),
        sa.Column("payload_json", sa.Text(), nullable=False),
        sa.Column("payload_hash", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("platform", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("channel_id", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
        sa.Column("message_key", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column("incident_id", sa.Integer(), nullable=True),
        sa.Column("acked_by", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=True),
        sa.Column("acked_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column("silence_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column("silenced_by", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=True),
        sa.Column("first_seen_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("updated_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["incident_id"],
            ["incident.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("group_key", name="uq_alert_group_key"),
    )
    op.create_table(
        "incident_timeline",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("incident_id", sa.Integer(), nullable=False),
        sa.Column("at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("actor", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("message_key", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column("link", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["incident_id"],
            ["incident.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("incident_timeline", schema=None) as batch_op:
        batch_op.create_index(
            "ix_incident_timeline_incident_at", ["incident_id", "at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("incident_timeline", schema=None) as batch_op:
        batch_op.drop_index("ix_incident_timeline_incident_at")

    op.drop_table("incident_timeline")
    op.drop_table("alert_group")
    with op.batch_alter_table("incident", schema=None) as batch_op:
        batch_op.drop_index("ix_incident_status")

    op.drop_table("incident")
