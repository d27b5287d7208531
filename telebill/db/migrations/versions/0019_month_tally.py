"""The month's counts kept by the database as the rows change: the console's month status reads
a few dozen rows instead of aggregating a million bills

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-04 14:00:00

Statement-level triggers on `bill` and `notification` (with their transition tables: every row
a statement inserted, updated or deleted, whatever wrote it — COPY, the stores, an operator's
SQL) append each statement's net change per (month, key) to `month_tally_delta`, in the
writer's own transaction: committed with the rows it counts, or rolled back with them, so the
counts can never disagree with the rows. The delta table is insert-only, so writers never wait
on each other for a counter; `telebill_fold_tally()` (the worker, every 30 s) folds the deltas
into `month_tally` in one transaction. A reader sums both.

Keys: `bill` (bills of the month) and, for the monthly notifications, their status, or for a
PENDING one its phase — `PENDING:planned` (no workflow yet), `PENDING:scheduled`,
`PENDING:published` — with `:problem` when it has found no allowed instant.

What depends on the clock (due, the next send) is read from a partial index of the pending
monthly notifications by send instant, which holds only those not ended yet.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0019"
down_revision: str | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

NOTICE_KEY = """
CREATE FUNCTION telebill_notice_key(status text, published_at timestamptz, workflow_id text,
                                    plan_problem text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $fn$
    SELECT CASE WHEN status <> 'PENDING' THEN status
                ELSE 'PENDING:' || CASE WHEN published_at IS NOT NULL THEN 'published'
                                        WHEN workflow_id IS NULL THEN 'planned'
                                        ELSE 'scheduled' END
                     -- the colon apart: SQLAlchemy reads a colon before a word as a parameter
                     || CASE WHEN plan_problem IS NOT NULL THEN ':' || 'problem' ELSE '' END
           END
$fn$
"""

# One function per table and event: a transition table exists only for the events that have it.
NOTICE_ROWS = (
    "SELECT billing_month, telebill_notice_key(status, published_at, workflow_id, plan_problem)"
    " AS key, {sign} AS n FROM {table} WHERE purpose = 'MONTHLY_BILL'"
)
BILL_ROWS = "SELECT billing_month, 'bill' AS key, {sign} AS n FROM {table}"


def _tally_function(name: str, rows: list[str]) -> str:
    return f"""
CREATE FUNCTION {name}() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $fn$
BEGIN
    INSERT INTO month_tally_delta (billing_month, key, n)
    SELECT billing_month, key, sum(n) FROM ({" UNION ALL ".join(rows)}) AS change
    GROUP BY billing_month, key HAVING sum(n) <> 0;
    RETURN NULL;
END
$fn$
"""


FUNCTIONS = {
    "telebill_tally_bill_insert": [BILL_ROWS.format(sign=1, table="new_rows")],
    "telebill_tally_bill_delete": [BILL_ROWS.format(sign=-1, table="old_rows")],
    "telebill_tally_notice_insert": [NOTICE_ROWS.format(sign=1, table="new_rows")],
    "telebill_tally_notice_update": [
        NOTICE_ROWS.format(sign=1, table="new_rows"),
        NOTICE_ROWS.format(sign=-1, table="old_rows"),
    ],
    "telebill_tally_notice_delete": [NOTICE_ROWS.format(sign=-1, table="old_rows")],
}
TRIGGERS = [
    ("bill", "INSERT", "NEW TABLE AS new_rows", "telebill_tally_bill_insert"),
    ("bill", "DELETE", "OLD TABLE AS old_rows", "telebill_tally_bill_delete"),
    ("notification", "INSERT", "NEW TABLE AS new_rows", "telebill_tally_notice_insert"),
    (
        "notification",
        # every UPDATE (PostgreSQL takes no column list with transition tables): one that
        # changes no key (reported_at, …) nets to nothing and appends no row
        "UPDATE",
        "OLD TABLE AS old_rows NEW TABLE AS new_rows",
        "telebill_tally_notice_update",
    ),
    ("notification", "DELETE", "OLD TABLE AS old_rows", "telebill_tally_notice_delete"),
]

# TRUNCATE (a benchmark's, an operator's) removes rows without a transition table: the counts
# of what it emptied go with them.
TRUNCATE_FUNCTION = """
CREATE FUNCTION telebill_tally_truncate() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $fn$
BEGIN
    DELETE FROM month_tally WHERE (key = 'bill') = (TG_TABLE_NAME = 'bill');
    DELETE FROM month_tally_delta WHERE (key = 'bill') = (TG_TABLE_NAME = 'bill');
    RETURN NULL;
END
$fn$
"""

FOLD = """
CREATE FUNCTION telebill_fold_tally() RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $fn$
DECLARE
    folded integer;
BEGIN
    -- one folder at a time; the deltas it takes are deleted and added in the same transaction,
    -- so a reader sees them on one side or the other, never both or neither
    IF NOT pg_try_advisory_xact_lock(hashtext('telebill_fold_tally')) THEN
        RETURN 0;
    END IF;
    WITH taken AS (DELETE FROM month_tally_delta RETURNING billing_month, key, n),
    summed AS (SELECT billing_month, key, sum(n) AS n, count(*) AS rows FROM taken
               GROUP BY billing_month, key),
    added AS (INSERT INTO month_tally AS t (billing_month, key, n)
              SELECT billing_month, key, n FROM summed
              ON CONFLICT (billing_month, key) DO UPDATE SET n = t.n + excluded.n)
    SELECT coalesce(sum(rows), 0) INTO folded FROM summed;
    DELETE FROM month_tally WHERE n = 0;
    RETURN folded;
END
$fn$
"""


def upgrade() -> None:
    op.create_table(
        "month_tally",
        sa.Column("billing_month", sa.Date(), primary_key=True),
        sa.Column("key", sa.Text(), primary_key=True),
        sa.Column("n", sa.BigInteger(), nullable=False),
    )
    op.create_table(
        "month_tally_delta",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), primary_key=True),
        sa.Column("billing_month", sa.Date(), nullable=False),
        sa.Column("key", sa.Text(), nullable=False),
        sa.Column("n", sa.BigInteger(), nullable=False),
        sa.Index("month_tally_delta_month_idx", "billing_month"),
    )
    op.execute(NOTICE_KEY)
    for name, rows in FUNCTIONS.items():
        op.execute(_tally_function(name, rows))
    for table, event, referencing, function in TRIGGERS:
        op.execute(
            f"CREATE TRIGGER {function} AFTER {event} ON {table} "
            f"REFERENCING {referencing} FOR EACH STATEMENT EXECUTE FUNCTION {function}()"
        )
    op.execute(TRUNCATE_FUNCTION)
    for table in ("bill", "notification"):
        op.execute(
            f"CREATE TRIGGER telebill_tally_truncate AFTER TRUNCATE ON {table} "
            "FOR EACH STATEMENT EXECUTE FUNCTION telebill_tally_truncate()"
        )
    op.execute(FOLD)
    op.execute("REVOKE ALL ON FUNCTION telebill_fold_tally() FROM PUBLIC")
    # What the installation holds already, counted once.
    op.execute(
        "INSERT INTO month_tally (billing_month, key, n) "
        "SELECT billing_month, 'bill', count(*) FROM bill GROUP BY 1 "
        "UNION ALL SELECT billing_month, "
        "telebill_notice_key(status, published_at, workflow_id, plan_problem), count(*) "
        "FROM notification WHERE purpose = 'MONTHLY_BILL' GROUP BY 1, 2"
    )
    op.execute(
        "CREATE INDEX notification_pending_send_idx ON notification (billing_month, send_at) "
        "WHERE status = 'PENDING' AND purpose = 'MONTHLY_BILL'"
    )


def downgrade() -> None:
    op.execute("DROP INDEX notification_pending_send_idx")
    for table, _, _, function in TRIGGERS:
        op.execute(f"DROP TRIGGER {function} ON {table}")
    for table in ("bill", "notification"):
        op.execute(f"DROP TRIGGER telebill_tally_truncate ON {table}")
    for name in [*FUNCTIONS, "telebill_tally_truncate"]:
        op.execute(f"DROP FUNCTION {name}()")
    op.execute("DROP FUNCTION telebill_fold_tally()")
    op.execute("DROP FUNCTION telebill_notice_key(text, timestamp with time zone, text, text)")
    op.drop_table("month_tally_delta")
    op.drop_table("month_tally")
