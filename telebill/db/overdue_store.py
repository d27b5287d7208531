"""Bills whose planned send instant has passed without their workflow or their outcome: what the
worker's overdue gauges report (telebill/metrics.py), one query per interval."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from telebill.db.connect import DbConn
from telebill.domain.statuses import NotificationStatus


@dataclass(frozen=True)
class Overdue:
    no_workflow: int  # planned only: the daily dispatch should have started their workflow
    no_outcome: int  # the workflow was started, and no delivery or dead letter is recorded
    oldest_send_at: datetime | None  # the earliest planned instant among them
    oldest_age_s: float  # how long before `now` that was (0.0: none overdue)


async def overdue_notifications(
    conn: DbConn, now: datetime, grace: timedelta, outcome_grace: timedelta
) -> Overdue:
    """Pending notifications planned for more than `grace` before `now` whose workflow was
    never started, and those planned for more than `grace` + `outcome_grace` before it (their
    chain of e-mail retries and SMS may take hours) that have no outcome yet.

    `now` is the caller's clock (telebill.clock, TELEBILL_CLOCK_OFFSET_S included), never the
    database's: a rehearsal with its clock moved ahead counts by the same clock it plans by,
    and the oldest age is measured from it too.

    A bill held by a send window (a deferred event) is not overdue: it has a due instant of its
    own. Bills with no allowed instant (NO_SEND_WINDOW) have no send_at and are shown by
    `telebill status` instead. The scan is of pending rows (notification_status_idx) filtered
    by instant; at 1M bills a month that is a fraction of a second once a minute."""
    r = await conn.fetchrow(
        f"""
        SELECT count(*) FILTER (WHERE n.workflow_id IS NULL) AS no_workflow,
               count(*) FILTER (WHERE n.workflow_id IS NOT NULL AND n.send_at < $2)
                   AS no_outcome,
               min(n.send_at) FILTER (WHERE n.workflow_id IS NULL OR n.send_at < $2)
                   AS oldest_send_at
        FROM notification n
        WHERE n.status = '{NotificationStatus.PENDING}' AND n.send_at < $1
          AND NOT EXISTS (SELECT 1 FROM deferred_event d
                          WHERE d.bill_id = n.bill_id AND d.purpose = n.purpose)
        """,
        now - grace,
        now - grace - max(outcome_grace, timedelta(0)),
    )
    assert r is not None
    oldest: datetime | None = r["oldest_send_at"]
    age = (now - oldest).total_seconds() if oldest is not None else 0.0
    return Overdue(r["no_workflow"], r["no_outcome"], oldest, age)
