"""why a reservation is not dispatched yet; why a notification has no time to be sent

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-26 15:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # A reservation whose dispatch failed stays RESERVED (the daily dispatch retries it) and
    # says why here.
    op.add_column("reserved_send", sa.Column("last_error", sa.Text(), nullable=True))
    # A notification that finds no allowed instant (windows cover a whole day) says so here,
    # until a change of windows or preferences lets it plan again.
    op.add_column("notification", sa.Column("plan_problem", sa.Text(), nullable=True))


def downgrade() -> None:
    op.drop_column("notification", "plan_problem")
    op.drop_column("reserved_send", "last_error")
