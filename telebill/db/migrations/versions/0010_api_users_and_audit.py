"""the admin API's users (a role and the hash of a token each) and its audit log

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-27 08:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "api_user",
        sa.Column("id", sa.BigInteger(), sa.Identity(), primary_key=True),
        sa.Column("name", sa.Text(), nullable=False, unique=True),
        sa.Column("role", sa.Text(), nullable=False),
        # only the token's SHA-256: a token is 256 random bits, so a slow hash buys nothing
        sa.Column("token_sha256", sa.Text(), nullable=False, unique=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint("role IN ('viewer', 'operator', 'admin')", name="api_user_role"),
    )
    op.create_table(
        "audit_log",
        sa.Column("id", sa.BigInteger(), sa.Identity(), primary_key=True),
        sa.Column(
            "at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False
        ),
        sa.Column("actor", sa.Text(), nullable=False),
        sa.Column("role", sa.Text(), nullable=False),
        sa.Column("action", sa.Text(), nullable=False),
        sa.Column("target", JSONB(), nullable=False),
        sa.Column("status", sa.Integer(), nullable=False),  # the HTTP status answered
        sa.Column("result", sa.Text(), nullable=False),
    )
    op.create_index("audit_log_at_idx", "audit_log", ["at"])


def downgrade() -> None:
    op.drop_index("audit_log_at_idx", table_name="audit_log")
    op.drop_table("audit_log")
    op.drop_table("api_user")
