"""each member's chosen bill channel (이메일 / 카카오톡 / 앱 / 문자) and app push token

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-27 09:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Existing members keep what they had: e-mail first.
    op.add_column(
        "member", sa.Column("bill_channel", sa.Text(), server_default="email", nullable=False)
    )
    op.add_column("member", sa.Column("push_token", sa.Text(), nullable=True))
    op.create_check_constraint(
        "member_bill_channel_name", "member", "bill_channel ~ '^[a-z][a-z0-9_]{1,30}$'"
    )


def downgrade() -> None:
    op.drop_constraint("member_bill_channel_name", "member")
    op.drop_column("member", "push_token")
    op.drop_column("member", "bill_channel")
