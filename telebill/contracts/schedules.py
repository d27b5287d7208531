"""The Temporal Schedules' contract: their ids, and what each one's action starts (the workflow
types and inputs are the settlement's, the dispatch's and the retention's:
telebill/contracts/settlement.py, dispatch.py, retention.py). Declared and inspected by
telebill/service/schedules.py through the gateway.
"""

from __future__ import annotations

SETTLEMENT_SCHEDULE_ID = "telebill-monthly-settlement"  # day 1: ScheduledSettlementWorkflow
DISPATCH_SCHEDULE_ID = "telebill-daily-dispatch"  # every day: ScheduledDispatchWorkflow
RETENTION_SCHEDULE_ID = "telebill-monthly-retention"  # day 2: MonthlyRetentionWorkflow
SCHEDULE_IDS = (SETTLEMENT_SCHEDULE_ID, DISPATCH_SCHEDULE_ID, RETENTION_SCHEDULE_ID)
