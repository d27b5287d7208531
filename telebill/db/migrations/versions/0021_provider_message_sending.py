"""A delivery key claimed while its e-mail is being sent (a review's finding on issue 35)

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-05 10:00:00

The SMTP provider wrote a key only after the relay's 250: two consumers handling the same
event at once (a Kafka rebalance) both found no key and both sent the bill. Now the key is
claimed before the message goes out, with the time it was claimed in `sending_since`; the
relay's 250 clears it (NULL: accepted, as every row written before, and every row of the
simulated providers), a refusal deletes the row. A claim older than a bound is one whose
process died mid-send, and may be claimed again.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0021"
down_revision: str | None = "0020"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # nullable, no default: a fast catalogue-only change, and the rows already there are
    # accepted keys
    op.add_column(
        "provider_message", sa.Column("sending_since", sa.DateTime(timezone=True), nullable=True)
    )


def downgrade() -> None:
    # a key still being sent would read as accepted: drop those claims first
    op.execute("DELETE FROM provider_message WHERE sending_since IS NOT NULL")
    op.drop_column("provider_message", "sending_since")
