"""The whole delivery chain under failures: e-mail with retry tiers, SMS fallback, dead letters.

The e-mail provider fails a share `p` of calls at random, so an event falls back to SMS after
its first attempt and three retries all failed: a share of p⁴ (0.81% at p = 0.3). A few members'
e-mail address and phone number always fail: those go e-mail → retries → SMS → retries → dead
letter, a known count. Retries wait 2, 4 and 8 s (±20%): while they wait, the others must go on.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import asyncpg

from bench.common import start_telebill
from bench.consumer_runs import Run, publish, run_until, stop
from telebill.config import Settings

RETRY_ENV = {"TELEBILL_RETRY_BASE_DELAY_S": "2", "TELEBILL_RETRY_FACTOR": "2"}
ATTEMPTS = 4  # the first and three retries (TELEBILL_EMAIL_RETRIES' default)


@dataclass(frozen=True)
class Chain:
    events: int
    failure_rate: float
    always_failing: int  # members whose e-mail and phone both always fail
    first_attempts_s: float  # until every event had its first e-mail attempt
    first_attempts_steady_s: float  # the same, from the first recorded attempt
    email_attempts_then: int  # e-mail attempts of every tier made by then
    final: Run  # until every bill was delivered or dead-lettered
    funnel: dict[str, int]  # e-mail at once, e-mail after retries, SMS, dead letter

    @property
    def expected_sms(self) -> float:
        """SMS deliveries to expect: the others' share p⁴ (less the SMS provider's 1%)."""
        return (self.events - self.always_failing) * self.failure_rate**ATTEMPTS * 0.99


async def run_chain(
    settings: Settings,
    conn: asyncpg.Connection,
    month_text: str,
    bills: Sequence[asyncpg.Record],
    failure_rate: float,
    log: Path,
) -> Chain:
    n = len(bills)
    k = max(1, min(200, n // 500))
    failing = await conn.fetch(
        "SELECT m.email, m.phone FROM member m WHERE m.id = ANY($1::bigint[])",
        [b["member_id"] for b in bills[:k]],
    )
    env = RETRY_ENV | {
        "TELEBILL_EMAIL_FAILURE_RATE": str(failure_rate),
        "TELEBILL_FAIL_ADDRESSES": ",".join(a for r in failing for a in (r["email"], r["phone"])),
    }
    await publish(settings, "email", month_text, bills)
    # one process each: two of one group would rebalance at the start, and the batch handled
    # meanwhile is handled again by its new owner (at least once), which blurs the funnel
    kinds = ["email", "sms", "dlq"]
    processes = [await start_telebill(settings, ["consume", kind], env, log) for kind in kinds]
    try:
        first = await run_until(
            conn,
            [],  # the processes go on after this count: the retries and the rest of the chain
            "SELECT count(DISTINCT notification_id) FROM delivery_attempt "
            "WHERE channel = 'email' AND attempt = 1",
            n,
        )
    except BaseException:
        await stop(processes)
        raise
    attempts = await conn.fetchval("SELECT count(*) FROM delivery_attempt WHERE channel = 'email'")
    final = await run_until(
        conn,
        processes,
        "SELECT count(*) FROM notification "
        "WHERE starts_with(status, 'DELIVERED_') OR status = 'DEAD_LETTER'",
        n,
    )
    final.total_s += first.total_s
    row = await conn.fetchrow(
        """
        SELECT count(*) FILTER (WHERE n.status = 'DELIVERED_EMAIL' AND a.attempt = 1) AS at_once,
               count(*) FILTER (WHERE n.status = 'DELIVERED_EMAIL' AND a.attempt > 1) AS retried,
               count(*) FILTER (WHERE n.status = 'DELIVERED_SMS') AS sms,
               count(*) FILTER (WHERE n.status = 'DEAD_LETTER') AS dead
        FROM notification n
        LEFT JOIN delivery_attempt a
          ON a.notification_id = n.id AND a.channel = 'email' AND a.outcome = 'SENT'
        """
    )
    assert row is not None
    funnel = {
        "e-mail at the first attempt": row["at_once"],
        "e-mail after retries": row["retried"],
        "SMS": row["sms"],
        "dead letter": row["dead"],
    }
    return Chain(n, failure_rate, k, first.total_s, first.steady_s, attempts, final, funnel)
