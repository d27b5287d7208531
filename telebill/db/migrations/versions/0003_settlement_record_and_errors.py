"""settlement record and errors

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25 11:09:58.949810
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "settlement",
        sa.Column("id", sa.Text(), nullable=False),
        sa.Column("billing_month", sa.Date(), nullable=False),
        sa.Column("status", sa.Text(), server_default="RUNNING", nullable=False),
        sa.Column("runs", sa.Integer(), server_default="0", nullable=False),
        sa.Column(
            "started_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("members", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("last_run_bills", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("last_run_items", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("bills", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("items", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("errors", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("amount_due", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column(
            "totals",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
        sa.CheckConstraint("status IN ('RUNNING', 'COMPLETED')", name="settlement_status"),
        sa.CheckConstraint(
            "EXTRACT(DAY FROM billing_month) = 1", name="settlement_month_first_day"
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("billing_month"),
    )
    op.create_table(
        "settlement_error",
        sa.Column("billing_month", sa.Date(), nullable=False),
        sa.Column("member_id", sa.BigInteger(), nullable=False),
        sa.Column("settlement_id", sa.Text(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column(
            "recorded_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["member_id"],
            ["member.id"],
        ),
        sa.PrimaryKeyConstraint("billing_month", "member_id"),
    )


def downgrade() -> None:
    op.drop_table("settlement_error")
    op.drop_table("settlement")
