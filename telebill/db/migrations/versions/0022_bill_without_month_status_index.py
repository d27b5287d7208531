"""The bill's (billing_month, status) index dropped: it misled the foreign-key checks (issue 36)

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-05 00:30:00

Every item's and notification's foreign key is checked with `id = $1 AND billing_month = $2`
on bill. Where a month's partition had been vacuumed while empty, the planner costed that
index (billing_month first) the same as the primary key, and picked it: each check then read
every bill of the month, and a raw COPY of a million members' items had not finished after 12
minutes. Inside a month's partition the index orders nothing (every row has the same month),
and no query filters bills by status, so it goes, with the writes it cost.
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0022"
down_revision: str | None = "0021"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # dropping the parent's index drops each month's partition's too, under an exclusive lock
    # on bill and every partition: behind a long reader (a month's archive) it would queue
    # every other access to bill meanwhile, so it gives up after 30 s instead (run it again)
    op.execute("SET LOCAL lock_timeout = '30s'")
    op.execute("DROP INDEX IF EXISTS bill_month_status_idx")


def downgrade() -> None:
    op.execute("CREATE INDEX bill_month_status_idx ON bill (billing_month, status)")
