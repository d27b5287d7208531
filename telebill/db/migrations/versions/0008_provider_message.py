"""the simulated providers' accepted idempotency keys

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-26 16:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # What a real provider keeps on its side: each idempotency key it accepted, and how often
    # it refused that key again (a consumer's redo after a crash).
    op.create_table(
        "provider_message",
        sa.Column("channel", sa.Text(), nullable=False),
        sa.Column("idempotency_key", sa.Text(), nullable=False),
        sa.Column(
            "accepted_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("refusals", sa.Integer(), server_default="0", nullable=False),
        sa.PrimaryKeyConstraint("channel", "idempotency_key"),
    )


def downgrade() -> None:
    op.drop_table("provider_message")
