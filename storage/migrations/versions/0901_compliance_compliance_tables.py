"""compliance tables

Revision ID: 0901_compliance
Revises: 0001_core
Create Date: 2026-11-29 19:31:12.084562
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0901_compliance"
down_revision: str | Sequence[str] | None = "0001_core"
branch_labels: str | Sequence[str] | None = ("compliance",)
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "post_feedback",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("platform", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("user_id", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
        sa.Column("subject", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("vote", sqlmodel.sql.sqltypes.AutoString(length=8), nullable=False),
        sa.Column("channel_id", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
        sa.Column("message_id", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=True),
        sa.Column("context", sa.Text(), nullable=False),
        sa.Column("at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("platform", "user_id", "subject", name="uq_post_feedback_vote"),
    )
    with op.batch_alter_table("post_feedback", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_post_feedback_at"), ["at"], unique=False)

    op.create_table(
        "guardrail_scan",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("scope", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
        sa.Column("trigger", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("actor", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
        sa.Column("workloads", sa.Integer(), nullable=False),
        sa.Column("compliant", sa.Integer(), nullable=False),
        sa.Column("findings", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("guardrail_scan", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_guardrail_scan_at"), ["at"], unique=False)

    op.create_table(
        "guardrail_finding",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("scan_id", sa.Integer(), nullable=False),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("namespace", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
        sa.Column("rule", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("severity", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("subject", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
        sa.Column("fingerprint", sqlmodel.sql.sqltypes.AutoString(length=700), nullable=False),
        sa.Column("params", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["scan_id"],
            ["guardrail_scan.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("guardrail_finding", schema=None) as batch_op:
        batch_op.create_index("ix_guardrail_finding_scan", ["scan_id", "rule"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("guardrail_finding", schema=None) as batch_op:
        batch_op.drop_index("ix_guardrail_finding_scan")

    op.drop_table("guardrail_finding")
    with op.batch_alter_table("guardrail_scan", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_guardrail_scan_at"))

    op.drop_table("guardrail_scan")
    with op.batch_alter_table("post_feedback", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_post_feedback_at"))

    op.drop_table("post_feedback")
