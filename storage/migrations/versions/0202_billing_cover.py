"""billing: covering index for per-resource questions

Revision ID: 0202_billing_cover
Revises: 0201_billing
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0202_billing_cover"
down_revision: str | Sequence[str] | None = "0201_billing"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.drop_index("ix_billing_resource_daily_day", table_name="billing_resource_daily")
    op.create_index(
        "ix_billing_resource_daily_cover",
        "billing_resource_daily",
        ["day", "currency", "resource_id", "billed_cost"],
    )


def downgrade() -> None:
    op.drop_index("ix_billing_resource_daily_cover", table_name="billing_resource_daily")
    op.create_index("ix_billing_resource_daily_day", "billing_resource_daily", ["day", "currency"])
