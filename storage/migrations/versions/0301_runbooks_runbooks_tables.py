"""runbooks tables

Revision ID: 0301_runbooks
Revises: 0001_core
Create Date: 2026-11-29 18:22:37.512778
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0301_runbooks"
down_revision: str | Sequence[str] | None = "0001_core"
branch_labels: str | Sequence[str] | None = ("runbooks",)
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "runbook_run",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("request_key", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=True),
        sa.Column("runbook", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("params", sa.Text(), nullable=False),
        sa.Column("risk", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("environment", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("namespace", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
        sa.Column("requester", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
        sa.Column("requester_name", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
        sa.Column("platform", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("channel", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
        sa.Column("thread_key", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column("message_key", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column("source", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("state", sqlmodel.sql.sqltypes.AutoString(length=24), nullable=False),
        sa.Column("level", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("policy", sa.Text(), nullable=False),
        sa.Column("plan", sa.Text(), nullable=False),
        sa.Column("dry_run_only", sa.Boolean(), nullable=False),
        sa.Column("resume_from", sa.Integer(), nullable=False),
        sa.Column("executor", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=True),
        sa.Column("heartbeat_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("decided_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column("expires_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column("started_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column("finished_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("request_key"),
    )
    with op.batch_alter_table("runbook_run", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_runbook_run_runbook"), ["runbook"], unique=False)
        batch_op.create_index("ix_runbook_run_state_expires", ["state", "expires_at"], unique=False)

    op.create_table(
        "runbook_approval",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("approver", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
        sa.Column("approver_name", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
        sa.Column("platform", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("decision", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("comment", sa.Text(), nullable=True),
        sa.Column("at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["runbook_run.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("run_id", "approver", name="uq_runbook_approval_user"),
    )
    with op.batch_alter_table("runbook_approval", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_runbook_approval_run_id"), ["run_id"], unique=False)

    op.create_table(
        "runbook_step",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("idx", sa.Integer(), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("phase", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("state", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("started_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("finished_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column("output", sa.Text(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["runbook_run.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("run_id", "idx", "attempt", name="uq_runbook_step_attempt"),
    )
    with op.batch_alter_table("runbook_step", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_runbook_step_run_id"), ["run_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("runbook_step", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_runbook_step_run_id"))

    op.drop_table("runbook_step")
    with op.batch_alter_table("runbook_approval", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_runbook_approval_run_id"))

    op.drop_table("runbook_approval")
    with op.batch_alter_table("runbook_run", schema=None) as batch_op:
        batch_op.drop_index("ix_runbook_run_state_expires")
        batch_op.drop_index(batch_op.f("ix_runbook_run_runbook"))

    op.drop_table("runbook_run")
