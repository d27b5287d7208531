"""Least privilege in PostgreSQL: which role each process connects as, and what it may do.

Migrations run as the owner (the `DATABASE_URL` user), which owns every table. The worker, the
consumers and the API each connect as a role of their own holding only the grants below; the
owner applies them after every migration (`grant_statements`, run by the Alembic environment),
so a new table stays out of reach of every role until it is written here. A role that does not
exist in the cluster is skipped: an installation that gives every process the one
`DATABASE_URL` works as before, only without the separation.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

# The roles themselves are telebill/domain/db_roles.py (below the config, which names them).
from telebill.domain.db_roles import DbRole

S, SI, SIU, SIUD = (
    "SELECT",
    "SELECT, INSERT",
    "SELECT, INSERT, UPDATE",
    "SELECT, INSERT, UPDATE, DELETE",
)

# Table → privileges, per role. Nothing here allows TRUNCATE, DDL or REFERENCES; no role but the
# owner touches `api_user` beyond the API's reading, and the audit log is append-only for all.
GRANTS: Mapping[DbRole, Mapping[str, str]] = {
    # Settlement (reads the catalogue and the month's usage, writes bills), planning and
    # dispatch of notifications, reservations, the STUCK gauge.
    DbRole.WORKER: {
        "alembic_version": S,
        "member": S,
        "subscription": S,
        "product": S,
        "product_terms": S,
        "usage_monthly": S,
        "bill": SI,
        "bill_item": SI,
        "settlement": SIU,
        "settlement_error": SIUD,
        "notification": SIU,
        "delivery_attempt": S,
        "blackout_window": S,
        "reserved_send": "SELECT, UPDATE",
        "send_list": S,  # a "send now"'s members, read a page at a time by the start activity
        "deferred_event": S,  # the overdue gauge leaves bills held by a send window out
        # the retention Schedule archives the months past the online span, forgets old archives
        "month_archive": SIUD,
        "month_tally": S,  # the month's counts (the status the worker's gauges and CLI read)
        "month_tally_delta": S,
    },
    # Delivery: reads what a message needs (the member's contacts, the bill, the template),
    # records attempts, outcomes, dead letters and what the simulated providers were sent.
    DbRole.CONSUMER: {
        "alembic_version": S,
        "member": S,
        "bill": S,
        "bill_item": S,
        "product": S,
        "message_template": S,
        "blackout_window": S,
        "notification": SIU,
        "delivery_attempt": SI,
        "dead_letter": SI,
        "deferred_event": SIUD,
        "provider_message": SIUD,  # the SMTP sender deletes a claim the relay refused
    },
    # The admin API and console: reads for the pages, the operator's changes (preferences,
    # templates, blackouts, reservations, replays), sessions and the audit.
    DbRole.API: {
        "alembic_version": S,
        "api_user": "SELECT, UPDATE",
        "audit_log": SI,
        "console_session": SIUD,
        "member": "SELECT, UPDATE",
        "bill": S,
        "bill_item": S,
        "product": S,
        "product_terms": S,
        "settlement": S,
        "settlement_error": S,
        "notification": S,
        "delivery_attempt": S,
        "deferred_event": S,  # the month's status counts the deferred
        "dead_letter": "SELECT, UPDATE",
        "blackout_window": "SELECT, INSERT, DELETE",
        "message_template": SIU,
        "reserved_send": SIU,
        "send_list": SI,  # the members of a "send now", kept for its dispatch
        "month_archive": S,  # the month's page says where an archived month went
        "month_tally": S,  # the month's status, counted as the rows change
        "month_tally_delta": S,
    },
}

# Columns a role may not read of a table it may otherwise read (SELECT only): the worker plans
# and settles without the member's name and contacts, so only the consumers (which send) and
# the API (which shows them, masked or audited) can read those.
HIDDEN_COLUMNS: Mapping[DbRole, Mapping[str, frozenset[str]]] = {
    DbRole.WORKER: {"member": frozenset({"name", "email", "phone", "push_token"})},
}

# Tables no process role touches: the seed's own (run by the owner, like the CLI's admin
# commands). Every table of the schema is in GRANTS or here (a test holds the two to it).
OWNER_ONLY = frozenset({"population"})

PROCESS_ROLES = (DbRole.WORKER, DbRole.CONSUMER, DbRole.API)

# Functions a role may call beyond PUBLIC's: the settlement creates its month's partitions
# (the function runs as the owner, so the worker holds no DDL right of its own).
FUNCTIONS: Mapping[DbRole, tuple[str, ...]] = {
    # and the retention Schedule drops a month's partitions once archived (the function refuses
    # a month without a verified archive)
    # and folds the month's counts every half minute
    DbRole.WORKER: (
        "telebill_month_partitions(date)",
        "telebill_drop_month(date)",
        "telebill_fold_tally()",
    ),
}


def grant_statements(
    existing_roles: Iterable[str],
    sequences: Mapping[str, Iterable[str]],
    columns: Mapping[str, Sequence[str]],
    functions: Iterable[str] = (),
) -> list[str]:
    """The SQL that makes each existing role's privileges exactly GRANTS: all revoked first, so
    a grant taken out of GRANTS is taken from the role too. `sequences` maps a table to the
    sequences of its serial columns (an INSERT needs them), `columns` to its columns (for
    HIDDEN_COLUMNS), `functions` the signatures of FUNCTIONS the schema holds (a downgraded
    one may not)."""
    present = set(existing_roles)
    defined = set(functions)
    sql: list[str] = []
    for role in PROCESS_ROLES:
        name = role.login
        if name not in present:
            continue
        sql += [
            f'REVOKE ALL ON ALL TABLES IN SCHEMA public FROM "{name}"',
            f'REVOKE ALL ON ALL SEQUENCES IN SCHEMA public FROM "{name}"',
            f'REVOKE ALL ON ALL FUNCTIONS IN SCHEMA public FROM "{name}"',
            f'GRANT USAGE ON SCHEMA public TO "{name}"',
        ]
        for table, privileges in sorted(GRANTS[role].items()):
            if table not in columns:  # not in this schema (one migrated down): nothing to grant
                continue
            hidden = HIDDEN_COLUMNS.get(role, {}).get(table)
            if hidden:
                assert privileges == "SELECT", "columns are hidden from reading only"
                shown = ", ".join(f'"{c}"' for c in columns[table] if c not in hidden)
                sql.append(f'GRANT SELECT ({shown}) ON TABLE "{table}" TO "{name}"')
                continue
            sql.append(f'GRANT {privileges} ON TABLE "{table}" TO "{name}"')
            if "INSERT" in privileges:
                sql += [
                    f'GRANT USAGE ON SEQUENCE "{seq}" TO "{name}"'
                    for seq in sorted(sequences.get(table, ()))
                ]
        sql += [
            f'GRANT EXECUTE ON FUNCTION {signature} TO "{name}"'
            for signature in FUNCTIONS.get(role, ())
            if signature in defined
        ]
    return sql
