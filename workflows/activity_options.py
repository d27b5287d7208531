"""Timeouts, heartbeats and the retry policy the notification and dispatch workflows give
their activities (one place, so the two agree on how fast a dead worker's work moves on)."""

from __future__ import annotations

from datetime import timedelta

from temporalio.common import RetryPolicy

SHORT = timedelta(minutes=2)
# A single query (an outcome, a month's member range): a worker that dies holding one is
# replaced after this, not after SHORT (issue 32: a dead worker's work moves on within ~30 s).
QUICK = timedelta(seconds=20)
# Activities that run for long (the regular plan-and-publish waiting for its outcome, a range
# of workflow starts) heartbeat every quarter of this from a task of their own
# (activities/heartbeat.py `heartbeating`), so the server sees a dead worker's activity as
# lost this long after its last heartbeat and hands it to a live worker.
HEARTBEAT = timedelta(seconds=10)
START_HEARTBEAT = timedelta(seconds=15)
# Retried without limit, at most a minute apart: an outage is waited out, never a lost step.
RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_interval=timedelta(minutes=1))
