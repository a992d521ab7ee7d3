"""billing: covering index and weekly per-resource rollup

Revision ID: 0202_billing_cover
Revises: 0201_billing
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0202_billing_cover"
down_revision: str | Sequence[str] | None = "0201_billing"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "billing_resource_weekly",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("file_id", sa.Integer(), nullable=False),
        sa.Column("week", sa.Date(), nullable=False),
        sa.Column("currency", sqlmodel.sql.sqltypes.AutoString(length=3), nullable=False),
        sa.Column("resource_id", sqlmodel.sql.sqltypes.AutoString(length=1024), nullable=False),
        sa.Column("resource_name", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
        sa.Column("billed_cost", sa.Float(), nullable=False),
        sa.Column("effective_cost", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(["file_id"], ["billing_file.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_billing_resource_weekly_file_id", "billing_resource_weekly", ["file_id"])
    op.create_index(
        "ix_billing_resource_weekly_cover",
        "billing_resource_weekly",
        ["week", "currency", "resource_id", "billed_cost"],
    )
    op.drop_index("ix_billing_resource_daily_day", table_name="billing_resource_daily")
    op.create_index(
        "ix_billing_resource_daily_cover",
        "billing_resource_daily",
        ["day", "currency", "resource_id", "billed_cost"],
    )


def downgrade() -> None:
    op.drop_table("billing_resource_weekly")
    op.drop_index("ix_billing_resource_daily_cover", table_name="billing_resource_daily")
    op.create_index("ix_billing_resource_daily_day", "billing_resource_daily", ["day", "currency"])
