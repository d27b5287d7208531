"""The staging month's rates from the records themselves, not from when a poll noticed: each
phase's start and end from Temporal (the workflows' start and close times) and PostgreSQL (each
notification's `delivered_at`, the database's clock), so the figures hold whatever the polling
and the faults did to the driver.

- settlement: the settlement workflow, start to close;
- schedule: its dispatch child, start to close (every bill planned; those due within the start
  horizon have their workflow);
- send day: the first day's bills (members whose preferred day is 1), from the dispatch's start
  to the delivery of the 98th percentile of them;
- send now: the others, from the send-now dispatch's start to the 98th percentile of them;
- e-mails: those the provider accepted, from the dispatch's start to the last acceptance.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

import asyncpg
from temporalio.client import Client

QUANTILE = 0.98


@dataclass(frozen=True)
class Phase:
    name: str
    what: str
    n: float
    seconds: float

    @property
    def rate(self) -> float:
        return self.n / self.seconds if self.seconds > 0 else float("nan")


async def span(client: Client, workflow_id: str) -> tuple[datetime, datetime | None]:
    d = await client.get_workflow_handle(workflow_id).describe()
    return d.start_time, d.close_time


async def delivered(
    conn: asyncpg.Connection, month: date, day_one: bool, since: datetime
) -> tuple[int, float]:
    """The bills of the first day (or the others) delivered, and the seconds from `since` to
    the QUANTILE-th of their deliveries."""
    r = await conn.fetchrow(
        "SELECT count(*) AS n, "
        "percentile_disc($3::float8) WITHIN GROUP (ORDER BY n.delivered_at) AS at "
        "FROM notification n JOIN bill b ON b.id = n.bill_id AND b.billing_month = n.billing_month "
        "JOIN member m ON m.id = b.member_id "
        "WHERE n.billing_month = $1 AND n.purpose = 'MONTHLY_BILL' "
        "AND n.delivered_at IS NOT NULL AND (m.preferred_day = 1) = $2",
        month,
        day_one,
        QUANTILE,
    )
    assert r is not None
    if not r["n"]:
        return 0, float("nan")
    return int(r["n"]), (r["at"] - since).total_seconds()


async def phases(
    conn: asyncpg.Connection, client: Client, month: date, settlement_id: str, send_now_id: str
) -> list[Phase]:
    settle_start, settle_end = await span(client, settlement_id)
    plan_start, plan_end = await span(client, f"{settlement_id}/dispatch")
    now_start, _ = await span(client, send_now_id)
    bills = int(await conn.fetchval("SELECT count(*) FROM bill WHERE billing_month = $1", month))
    day_n, day_s = await delivered(conn, month, True, plan_start)
    rest_n, rest_s = await delivered(conn, month, False, now_start)
    emails = await conn.fetchrow(
        "SELECT count(*) AS n, max(accepted_at) AS last FROM provider_message "
        "WHERE channel = 'email'"
    )
    assert emails is not None and settle_end is not None and plan_end is not None
    share = f"{QUANTILE:.0%} of"
    return [
        Phase("settlement", f"{bills:,} bills", bills, (settle_end - settle_start).total_seconds()),
        Phase(
            "schedule", f"{bills:,} bills planned", bills, (plan_end - plan_start).total_seconds()
        ),
        Phase("send day", f"{share} {day_n:,} day-1 bills delivered", day_n * QUANTILE, day_s),
        Phase("send now", f"{share} {rest_n:,} others delivered", rest_n * QUANTILE, rest_s),
        Phase(
            "e-mails",
            f"{emails['n']:,} accepted by the provider",
            emails["n"],
            (emails["last"] - plan_start).total_seconds() if emails["last"] else float("nan"),
        ),
    ]
