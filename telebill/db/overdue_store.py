"""Bills whose planned send instant has passed without their workflow or their outcome: what the
worker's overdue gauges report (telebill/metrics.py), one query per interval."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from telebill.db.connect import DbConn


@dataclass(frozen=True)
class Overdue:
    no_workflow: int  # planned only: the daily dispatch should have started their workflow
    no_outcome: int  # the workflow was started, and no delivery or dead letter is recorded
    oldest_send_at: datetime | None  # the earliest planned instant among them

    def oldest_age_s(self, now: datetime) -> float:
        return (now - self.oldest_send_at).total_seconds() if self.oldest_send_at else 0.0


async def overdue_notifications(
    conn: DbConn, no_workflow_before: datetime, no_outcome_before: datetime
) -> Overdue:
    """Pending notifications planned for before `no_workflow_before` whose workflow was never
    started, and those planned for before `no_outcome_before` (earlier: their chain of
    e-mail retries and SMS may take hours) that have no outcome yet.

    A bill held by a send window (a deferred event) is not overdue: it has a due instant of its
    own. Bills with no allowed instant (NO_SEND_WINDOW) have no send_at and are shown by
    `telebill status` instead. The scan is of pending rows (notification_status_idx) filtered
    by instant; at 1M bills a month that is a fraction of a second once a minute."""
    r = await conn.fetchrow(
        """
        SELECT count(*) FILTER (WHERE n.workflow_id IS NULL) AS no_workflow,
               count(*) FILTER (WHERE n.workflow_id IS NOT NULL AND n.send_at < $2)
                   AS no_outcome,
               min(n.send_at) FILTER (WHERE n.workflow_id IS NULL OR n.send_at < $2)
                   AS oldest_send_at
        FROM notification n
        WHERE n.status = 'PENDING' AND n.send_at < $1
          AND NOT EXISTS (SELECT 1 FROM deferred_event d
                          WHERE d.bill_id = n.bill_id AND d.purpose = n.purpose)
        """,
        no_workflow_before,
        min(no_outcome_before, no_workflow_before),
    )
    assert r is not None
    return Overdue(r["no_workflow"], r["no_outcome"], r["oldest_send_at"])
