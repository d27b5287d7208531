"""Guards on the owner's functions of 0017–0019 (a review's findings)

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-04 14:00:00

- The counting trigger functions run as the owner: nobody may EXECUTE them but through the
  triggers of `bill` and `notification` (PUBLIC could attach them to a temporary table of its
  own and write counts), and each checks the table it fires on.
- A month's drop locks the six parent tables first, in one order, with a lock timeout (the
  other queries lock a parent before its partitions: the reverse order could deadlock), and
  forgets the month's counts with its rows (DETACH fires no trigger), under the fold's lock.
- A TRUNCATE's forgetting of counts waits for a fold in progress (the fold deletes deltas then
  adds counts; the reverse order could deadlock or keep a count the fold was adding).
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0020"
down_revision: str | None = "0019"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TALLY_FUNCTIONS = (
    "telebill_tally_bill_insert",
    "telebill_tally_bill_delete",
    "telebill_tally_notice_insert",
    "telebill_tally_notice_update",
    "telebill_tally_notice_delete",
    "telebill_tally_truncate",
)
FOLD_LOCK = "PERFORM pg_advisory_xact_lock(hashtext('telebill_fold_tally'));"

TRUNCATE = f"""
CREATE OR REPLACE FUNCTION telebill_tally_truncate() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $fn$
BEGIN
    IF TG_RELID NOT IN ('public.bill'::regclass, 'public.notification'::regclass) THEN
        RAISE EXCEPTION 'telebill_tally_truncate counts bill and notification only';
    END IF;
    {FOLD_LOCK}
    DELETE FROM month_tally WHERE (key = 'bill') = (TG_TABLE_NAME = 'bill');
    DELETE FROM month_tally_delta WHERE (key = 'bill') = (TG_TABLE_NAME = 'bill');
    RETURN NULL;
END
$fn$
"""

DROP_MONTH = f"""
CREATE OR REPLACE FUNCTION telebill_drop_month(month date) RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp SET lock_timeout = '30s'
AS $fn$
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
    -- the parents first, in one order (as detaching needs them anyway); a long reader makes
    -- this fail after the lock timeout, to be tried again, rather than stall every query
    LOCK TABLE delivery_attempt, notification, bill_item, bill, usage_monthly, settlement_error
        IN ACCESS EXCLUSIVE MODE;
    FOREACH t IN ARRAY tables LOOP
        part := t || '_' || to_char(month, 'YYYY_MM');
        IF to_regclass(part) IS NOT NULL THEN
            EXECUTE format('SELECT count(*) FROM %I', part) INTO n;
            IF n <> coalesce((archived ->> t)::bigint, 0) THEN
                RAISE EXCEPTION 'month %: % holds % rows, its archive %: archive it again',
                    month, t, n, coalesce(archived ->> t, '0');
            END IF;
        END IF;
    END LOOP;
    FOREACH t IN ARRAY tables LOOP
        part := t || '_' || to_char(month, 'YYYY_MM');
        IF to_regclass(part) IS NOT NULL THEN
            EXECUTE format('ALTER TABLE %I DETACH PARTITION %I', t, part);
            EXECUTE format('DROP TABLE %I', part);
            dropped := dropped + 1;
        END IF;
    END LOOP;
    -- its rows are gone without a trigger: so are their counts (a restore counts them again)
    {FOLD_LOCK}
    DELETE FROM month_tally WHERE billing_month = month;
    DELETE FROM month_tally_delta WHERE billing_month = month;
    UPDATE month_archive SET dropped_at = now() WHERE billing_month = month;
    RETURN dropped;
END
$fn$
"""


# The way back: the functions as 0018 and 0019 made them (copies: a migration stays as it was).
TRUNCATE_0019 = """
CREATE OR REPLACE FUNCTION telebill_tally_truncate() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $fn$
BEGIN
    DELETE FROM month_tally WHERE (key = 'bill') = (TG_TABLE_NAME = 'bill');
    DELETE FROM month_tally_delta WHERE (key = 'bill') = (TG_TABLE_NAME = 'bill');
    RETURN NULL;
END
$fn$
"""

DROP_MONTH_0018 = """
CREATE OR REPLACE FUNCTION telebill_drop_month(month date) RETURNS integer
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


def _guarded(name: str) -> str:
    """The counting function's body behind a check of the table it fires on.

    The body is 0019's as the server holds it, the check put after its first BEGIN (these
    bodies have no DECLARE section and one block): the counting itself is not copied here.
    """
    table = "bill" if "_bill_" in name else "notification"
    check = (
        f"BEGIN IF TG_RELID <> ''public.{table}''::regclass THEN "
        f"RAISE EXCEPTION ''{name} counts {table} only''; END IF;"
    )
    return f"""
DO $do$
DECLARE
    body text := pg_get_functiondef('{name}()'::regprocedure);
BEGIN
    IF position('TG_RELID' IN body) = 0 THEN
        EXECUTE regexp_replace(body, '\\mBEGIN\\M', '{check}');
    END IF;
END
$do$
"""


def _unguarded(name: str) -> str:
    """The counting function's body as 0019 left it."""
    return f"""
DO $do$
BEGIN
    EXECUTE regexp_replace(pg_get_functiondef('{name}()'::regprocedure),
                           'BEGIN IF TG_RELID .*? END IF;', 'BEGIN');
END
$do$
"""


def upgrade() -> None:
    for name in TALLY_FUNCTIONS[:-1]:
        op.execute(_guarded(name))
    op.execute(TRUNCATE)
    op.execute(DROP_MONTH)
    for name in TALLY_FUNCTIONS:
        op.execute(f"REVOKE ALL ON FUNCTION {name}() FROM PUBLIC")


def downgrade() -> None:
    for name in TALLY_FUNCTIONS:
        op.execute(f"GRANT EXECUTE ON FUNCTION {name}() TO PUBLIC")
    for name in TALLY_FUNCTIONS[:-1]:
        op.execute(_unguarded(name))
    op.execute(TRUNCATE_0019)
    op.execute(DROP_MONTH_0018)
