"""partners tables

Revision ID: 0701_partners
Revises: 0001_core
Create Date: 2026-11-29 19:30:37.286562
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0701_partners"
down_revision: str | Sequence[str] | None = "0001_core"
branch_labels: str | Sequence[str] | None = ("partners",)
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "partner_intake",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("platform", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("channel_id", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
        sa.Column("channel_name", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
        sa.Column("root_key", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("thread_ts", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=True),
        sa.Column("offer_name", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("slug", sqlmodel.sql.sqltypes.AutoString(length=120), nullable=False),
        sa.Column("state", sqlmodel.sql.sqltypes.AutoString(length=24), nullable=False),
        sa.Column("current", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column("answers_json", sa.Text(), nullable=False),
        sa.Column("meta_json", sa.Text(), nullable=False),
        sa.Column("locale", sqlmodel.sql.sqltypes.AutoString(length=8), nullable=False),
        sa.Column("requester_id", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
        sa.Column("requester_name", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
        sa.Column("review_key", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column("reviewer_id", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=True),
        sa.Column("review_note", sa.Text(), nullable=True),
        sa.Column("score", sa.Integer(), nullable=True),
        sa.Column("coverage", sa.Float(), nullable=True),
        sa.Column("started_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("completed_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column("reviewed_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column("published_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column("updated_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("root_key", name="uq_partner_intake_root"),
        sa.UniqueConstraint("slug", name="uq_partner_intake_slug"),
    )
    with op.batch_alter_table("partner_intake", schema=None) as batch_op:
        batch_op.create_index("ix_partner_intake_state", ["state"], unique=False)
        batch_op.create_index(
            "ix_partner_intake_thread", ["platform", "channel_id", "thread_ts"], unique=False
        )

    op.create_table(
        "partner_intake_answer",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("intake_id", sa.Integer(), nullable=False),
        sa.Column("question", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("value_json", sa.Text(), nullable=False),
        sa.Column("raw", sa.Text(), nullable=False),
        sa.Column("user_id", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
        sa.Column("user_name", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
        sa.Column("is_external", sa.Boolean(), nullable=False),
        sa.Column("answered_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["intake_id"],
            ["partner_intake.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("partner_intake_answer", schema=None) as batch_op:
        batch_op.create_index("ix_partner_answer_intake", ["intake_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("partner_intake_answer", schema=None) as batch_op:
        batch_op.drop_index("ix_partner_answer_intake")

    op.drop_table("partner_intake_answer")
    with op.batch_alter_table("partner_intake", schema=None) as batch_op:
        batch_op.drop_index("ix_partner_intake_thread")
        batch_op.drop_index("ix_partner_intake_state")

    op.drop_table("partner_intake")
