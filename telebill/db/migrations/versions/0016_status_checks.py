"""One word per state: a CHECK on every status column, listing the values of its enum in
telebill/domain/statuses.py (and domain/attempt.py), so a word not in the code is refused

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-03 13:40:00

The values are written out here, not imported: a migration stays what it was when it ran, and
tests/integration/test_status_checks.py compares each CHECK with its enum, so an enum member
added without a migration fails there. settlement.status and reserved_send.status had theirs
already (0003, 0001).

A delivered status names its channel (DELIVERED_EMAIL, …): a pattern, the channel names' rule
of member.bill_channel (0011) in capitals, so a new channel (a module, a plug-in) needs no
migration. A purpose is MONTHLY_BILL or RESEND-n.

Rows that break a rule are named before any constraint is added (PostgreSQL's own error names
only the constraint); none is rewritten.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

DELIVERED = "^DELIVERED_[A-Z][A-Z0-9_]{1,30}$"
RESEND = "^RESEND-[1-9][0-9]*$"


def _in(column: str, *values: str) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


def _purpose(column: str) -> str:
    return f"{column} = 'MONTHLY_BILL' OR {column} ~ '{RESEND}'"


# (table, constraint, column, condition)
CHECKS = [
    (
        "notification",
        "notification_status",
        "status",
        f"{_in('status', 'PENDING', 'DEAD_LETTER')} OR status ~ '{DELIVERED}'",
    ),
    ("notification", "notification_purpose", "purpose", _purpose("purpose")),
    ("deferred_event", "deferred_event_purpose", "purpose", _purpose("purpose")),
    ("bill", "bill_status", "status", _in("status", "SETTLED", "NOTHING_DUE")),
    (
        "delivery_attempt",
        "delivery_attempt_outcome",
        "outcome",
        _in("outcome", "SENT", "DUPLICATE", "FAILED", "DEFERRED"),
    ),
]


def upgrade() -> None:
    conn = op.get_bind()
    broken = []
    for table, _, column, condition in CHECKS:
        found = conn.execute(
            sa.text(
                f"SELECT {column} AS value, count(*) AS n FROM {table} "
                f"WHERE NOT ({condition}) GROUP BY 1 ORDER BY 1 LIMIT 20"
            )
        ).all()
        broken += [f"{table}.{column} = {r.value!r} ({r.n} rows)" for r in found]
    if broken:
        raise RuntimeError(
            "rows with a value no code writes; correct or remove them, then migrate again: "
            + "; ".join(broken)
        )
    for table, name, _, condition in CHECKS:
        op.create_check_constraint(name, table, condition)


def downgrade() -> None:
    for table, name, _, _ in reversed(CHECKS):
        op.drop_constraint(name, table, type_="check")
