"""API tokens expire: each user's token has an end, and a new token (rotation) moves it

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-03 10:50:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Tokens handed out before this keep working for 90 days from the upgrade.
    op.add_column(
        "api_user",
        sa.Column(
            "expires_at",
            postgresql.TIMESTAMP(timezone=True),
            server_default=sa.text("now() + interval '90 days'"),
            nullable=False,
        ),
    )


def downgrade() -> None:
    op.drop_column("api_user", "expires_at")
