"""the audit log chained: each row carries the SHA-256 of its content and of the row before

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-03 10:10:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Rows written before this have no link: the chain starts at the first one written after.
    op.add_column("audit_log", sa.Column("row_sha256", sa.Text(), nullable=True))


def downgrade() -> None:
    op.drop_column("audit_log", "row_sha256")
