"""Notification workflows: when a bill's workflow starts, how long it waits for an outcome,
starts in flight, and the clock and zone send windows are planned in."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings

from telebill.settings.base import SECTION_CONFIG


class NotifySettings(BaseSettings):
    model_config = SECTION_CONFIG

    # Blackout windows are in this zone; members' quiet hours in their own.
    system_time_zone: str = "Asia/Seoul"
    # Added to the real time wherever send windows are planned or checked (see telebill/clock.py).
    clock_offset_s: float = 0.0

    notify_parallel_starts: int = Field(default=50, ge=1)  # workflow starts in flight at once
    # A bill's workflow is started (delayed until its instant) only when that instant is this
    # close; the rest of the month is planned in PostgreSQL and started by the daily dispatch
    # (`dispatch_schedule_time`), so the server holds a day or two of bills, not a month. More
    # than a day, so that each daily run reaches past the next one.
    notify_start_horizon_h: float = Field(default=36.0, ge=25.0)
    notify_stuck_after_s: float = Field(default=3 * 3600.0, gt=0)  # no outcome this long: STUCK
    # The publishing activity waits this long for the outcome (most come within a second or two)
    # and hands it to its workflow itself; the consumers' reporter signals the slower ones as soon
    # as they end, but leaves those published less than the grace period ago to the activity
    # (a grace above the wait of the workflows in flight saves signals; below it, both report
    # the same outcome: harmless).
    notify_outcome_wait_s: float = Field(default=10.0, ge=0)
    # The same wait where the publishing runs as a local activity (the workflows of this
    # version): it holds a workflow task slot, and past 80% of the task's 10 s timeout the task
    # would be extended with three more history events; the reporter signals the slower ones.
    notify_local_outcome_wait_s: float = Field(default=3.0, ge=0, le=7.0)
    outcome_report_grace_s: float = Field(default=5.0, ge=0)
