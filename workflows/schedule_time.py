"""The instant a Schedule meant: what a scheduled run's month or day is taken from.

A Schedule's run can start late (Temporal or the workers down, then caught up within the
catch-up window); `workflow.now()` is then the instant it ran, not the one it stands for. Temporal
sets the search attribute `TemporalScheduledStartTime` on every workflow a Schedule starts (a
backfill and a caught-up run included) to the instant the Schedule's spec named.
"""

from __future__ import annotations

from datetime import datetime

from temporalio import workflow
from temporalio.common import SearchAttributeKey

SCHEDULED_START_TIME = SearchAttributeKey.for_datetime("TemporalScheduledStartTime")
# Added 2026-12-03 (issue 32): the Scheduled* workflows take their month / day from the instant
# the Schedule meant; runs recorded before keep `workflow.now()` on replay.
SCHEDULED_INSTANT_PATCH = "month-from-scheduled-instant"


def scheduled_instant() -> datetime:
    """The instant the Schedule meant, or now for a run started by hand (no such attribute; a
    server that sends it without its type is read the same way, as before this change)."""
    meant = workflow.info().typed_search_attributes.get(SCHEDULED_START_TIME)
    return meant if meant is not None else workflow.now()
