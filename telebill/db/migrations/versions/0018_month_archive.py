"""Archived months: what `telebill archive` wrote (files, checksums, its manifest's digest), and
the one way a month's partitions leave the database

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-04 13:00:00

`telebill_drop_month(month)` detaches and drops a month's partitions, children first, and only
when `month_archive` holds a verified archive of that month (written and read back) whose row
counts its partitions still hold, under the lock detaching takes: a month is not dropped by
mistake before its archive was read back, nor after a row was written to it since. It runs as
the owner; the worker may call it (the retention Schedule), nobody may DROP otherwise. The
record is the archiving worker's own, so this guards against mistakes, not against whoever
holds the worker's credentials (docs/security.md).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

DROP_MONTH = """
CREATE FUNCTION telebill_drop_month(month date) RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $fn$
DECLARE
    t text;
    part text;
    n bigint;
    archived jsonb;
    dropped integer := 0;
    tables text[] := ARRAY['delivery_attempt', 'notification', 'bill_item', 'bill',
                           'usage_monthly', 'settlement_error'];
BEGIN
    SELECT a.rows INTO archived FROM month_archive a WHERE a.billing_month = month
        AND a.verified_at IS NOT NULL AND a.dropped_at IS NULL;
    IF archived IS NULL THEN
        RAISE EXCEPTION 'month % has no verified archive: its partitions are kept', month;
    END IF;
    -- Nothing written to the month since it was archived: its partitions, locked as detaching
    -- would lock them anyway, hold the rows the archive counted, or nothing is dropped.
    FOREACH t IN ARRAY tables LOOP
        part := t || '_' || to_char(month, 'YYYY_MM');
        IF to_regclass(part) IS NOT NULL THEN
            EXECUTE format('LOCK TABLE %I IN ACCESS EXCLUSIVE MODE', part);
            EXECUTE format('SELECT count(*) FROM %I', part) INTO n;
            IF n <> coalesce((archived ->> t)::bigint, 0) THEN
                RAISE EXCEPTION 'month %: % holds % rows, its archive %: archive it again',
                    month, t, n, coalesce(archived ->> t, '0');
            END IF;
        END IF;
    END LOOP;
    -- children before their parents: a bill's partition goes once nothing refers to it
    FOREACH t IN ARRAY tables LOOP
        part := t || '_' || to_char(month, 'YYYY_MM');
        IF to_regclass(part) IS NOT NULL THEN
            EXECUTE format('ALTER TABLE %I DETACH PARTITION %I', t, part);
            EXECUTE format('DROP TABLE %I', part);
            dropped := dropped + 1;
        END IF;
    END LOOP;
    UPDATE month_archive SET dropped_at = now() WHERE billing_month = month;
    RETURN dropped;
END
$fn$
"""


def upgrade() -> None:
    op.create_table(
        "month_archive",
        sa.Column("billing_month", sa.Date(), primary_key=True),
        sa.Column("location", sa.Text(), nullable=False),
        sa.Column("manifest_sha256", sa.Text(), nullable=False),
        sa.Column("rows", postgresql.JSONB(), nullable=False),
        sa.Column("bytes", sa.BigInteger(), nullable=False),
        sa.Column(
            "archived_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column("verified_at", sa.DateTime(timezone=True)),
        sa.Column("dropped_at", sa.DateTime(timezone=True)),
        sa.Column("restored_at", sa.DateTime(timezone=True)),
        sa.CheckConstraint("EXTRACT(DAY FROM billing_month) = 1", name="month_archive_first_day"),
    )
    op.execute(DROP_MONTH)
    op.execute("REVOKE ALL ON FUNCTION telebill_drop_month(date) FROM PUBLIC")


def downgrade() -> None:
    op.execute("DROP FUNCTION telebill_drop_month(date)")
    op.drop_table("month_archive")
