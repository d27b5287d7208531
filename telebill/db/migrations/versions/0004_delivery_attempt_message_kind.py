"""delivery attempt message kind

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-25 11:57:48.746812
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("delivery_attempt", sa.Column("message_kind", sa.Text(), nullable=True))


def downgrade() -> None:
    op.drop_column("delivery_attempt", "message_kind")
