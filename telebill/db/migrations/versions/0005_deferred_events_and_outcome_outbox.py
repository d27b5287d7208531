"""deferred events and the outcome outbox

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-25 13:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("notification", sa.Column("workflow_id", sa.Text(), nullable=True))
    op.add_column(
        "notification", sa.Column("published_at", sa.DateTime(timezone=True), nullable=True)
    )
    op.add_column(
        "notification", sa.Column("reported_at", sa.DateTime(timezone=True), nullable=True)
    )
    op.create_index(
        "notification_unreported_idx",
        "notification",
        ["id"],
        postgresql_where=sa.text(
            "workflow_id IS NOT NULL AND reported_at IS NULL AND status <> 'PENDING'"
        ),
    )
    op.create_table(
        "deferred_event",
        sa.Column("bill_id", sa.BigInteger(), nullable=False),
        sa.Column("purpose", sa.Text(), nullable=False),
        sa.Column("topic", sa.Text(), nullable=False),
        sa.Column("event", sa.dialects.postgresql.JSONB(), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("bill_id", "purpose"),
    )
    op.create_index("deferred_event_due_idx", "deferred_event", ["due_at"])


def downgrade() -> None:
    op.drop_index("deferred_event_due_idx", table_name="deferred_event")
    op.drop_table("deferred_event")
    op.drop_index("notification_unreported_idx", table_name="notification")
    op.drop_column("notification", "reported_at")
    op.drop_column("notification", "published_at")
    op.drop_column("notification", "workflow_id")
