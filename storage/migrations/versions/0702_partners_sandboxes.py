"""partners: sandbox namespaces of approved offers

Revision ID: 0702_partners_sandboxes
Revises: 0701_partners
Create Date: 2026-11-29 21:45:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0702_partners_sandboxes"
down_revision: str | Sequence[str] | None = "0701_partners"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "partner_sandbox",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("intake_id", sa.Integer(), nullable=False),
        sa.Column("partner", sqlmodel.sql.sqltypes.AutoString(length=63), nullable=False),
        sa.Column("namespace", sqlmodel.sql.sqltypes.AutoString(length=63), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=True),
        sa.Column("cleanup_run_id", sa.Integer(), nullable=True),
        sa.Column("requested_by", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
        sa.Column(
            "requested_by_name", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False
        ),
        sa.Column("platform", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("days", sa.Integer(), nullable=False),
        sa.Column("expires_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("activated_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column("warned_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column("finished_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column("updated_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["intake_id"], ["partner_intake.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("partner_sandbox", schema=None) as batch_op:
        batch_op.create_index("ix_partner_sandbox_intake", ["intake_id"], unique=False)
        batch_op.create_index(
            "ix_partner_sandbox_status_expires", ["status", "expires_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("partner_sandbox", schema=None) as batch_op:
        batch_op.drop_index("ix_partner_sandbox_status_expires")
        batch_op.drop_index("ix_partner_sandbox_intake")
    op.drop_table("partner_sandbox")
