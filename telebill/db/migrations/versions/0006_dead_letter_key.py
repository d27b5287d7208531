"""dead letters recorded once per key

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-26 14:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # The message a dead letter stands for (topic/partition/offset), or the DLQ record itself
    # for a letter from elsewhere: a letter published or read twice is still one row.
    op.add_column("dead_letter", sa.Column("letter_key", sa.Text(), nullable=True))
    op.execute("UPDATE dead_letter SET letter_key = 'legacy:' || id")
    op.alter_column("dead_letter", "letter_key", nullable=False)
    op.create_unique_constraint("dead_letter_letter_key_key", "dead_letter", ["letter_key"])


def downgrade() -> None:
    op.drop_constraint("dead_letter_letter_key_key", "dead_letter", type_="unique")
    op.drop_column("dead_letter", "letter_key")
