"""What the processes count for Prometheus (served by telebill/probe_server.py).

The metrics live in prometheus-client's default registry, defined once here so that every
process exposes the same names; a process that does not use one simply leaves it at zero.
`deploy/prometheus/alerts.yml` and the Grafana dashboard are written against these names.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

from telebill.domain.send_window import DeferralKind

# The channel consumers (and the dead-letter consumer, channel="dlq")
EVENTS = Counter("telebill_consumer_events", "Events taken from Kafka and handled", ["channel"])
SENT = Counter("telebill_sent", "Messages the provider accepted", ["channel"])
FAILED = Counter(
    "telebill_send_failures", "Sends that failed (retried, then the next channel)", ["channel"]
)
DEFERRED = Counter(
    "telebill_deferred",
    "Events held by a send window until its end",
    ["channel", "reason"],  # reason: quiet_hours or blackout
)
DEAD_LETTERED = Counter(
    "telebill_dead_lettered", "Events a consumer sent to the dead-letter topic", ["channel"]
)
DEAD_LETTERS_KEPT = Counter(
    "telebill_dead_letters_kept", "Dead letters the dead-letter consumer recorded (new ones)"
)
BATCH_EVENTS = Histogram(
    "telebill_batch_events",
    "Events per batch",
    ["channel"],
    buckets=(1, 10, 50, 100, 250, 500, 1_000, 2_000, 3_000, 5_000),
)
BATCH_SECONDS = Histogram(
    "telebill_batch_seconds",
    "Time to handle one batch, from the poll to its messages published",
    ["channel"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 1.5, 2, 3, 5, 10, 30),
)
SEND_SECONDS = Histogram(
    "telebill_send_seconds",
    "One provider call (the send's latency)",
    ["channel"],
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 1.25, 1.5, 2, 5, 10),
)
LAG = Gauge(
    "telebill_consumer_lag",
    "Events on this process's partitions not handled yet (sum over the group's processes)",
    ["group", "topic"],
)
RUNNING = Gauge("telebill_consumer_running", "1 while a consumer process runs", ["channel"])
SCALED_PROCESSES = Gauge(
    "telebill_scaled_processes", "Consumer processes a `--scale auto` supervisor runs", ["channel"]
)

# The Temporal worker
SETTLED_MEMBERS = Counter("telebill_settled_members", "Members settlement shards went through")
SETTLED_BILLS = Counter("telebill_settled_bills", "Bills the settlement wrote")
SETTLEMENT_REFUSED = Counter(
    "telebill_settlement_refused", "Members whose bill the settlement refused (bad input)"
)
STUCK = Gauge(
    "telebill_notifications_stuck",
    "Running notification workflows in NotifyStatus STUCK (no outcome in time)",
)
# The Schedules (label `schedule`: telebill-daily-dispatch, telebill-monthly-settlement), read by
# the worker with the STUCK gauge: the alerts on the daily dispatch are written against these.
SCHEDULE_INSTALLED = Gauge(
    "telebill_schedule_installed", "1 when the Schedule exists", ["schedule"]
)
SCHEDULE_PAUSED = Gauge("telebill_schedule_paused", "1 while the Schedule is paused", ["schedule"])
SCHEDULE_LAST_FAILED = Gauge(
    "telebill_schedule_last_run_failed",
    "1 when the workflow of the Schedule's latest finished run failed, timed out or was ended",
    ["schedule"],
)
SCHEDULE_LAST_ACTION = Gauge(
    "telebill_schedule_last_action_timestamp_seconds",
    "When the Schedule last started its workflow (Unix time; never yet: when it was created)",
    ["schedule"],
)
SCHEDULE_MISSED = Gauge(
    "telebill_schedule_missed_runs",
    "Runs the Schedule dropped, later than its catch-up window (since it was created)",
    ["schedule"],
)
SCHEDULE_SKIPPED = Gauge(
    "telebill_schedule_skipped_runs",
    "Runs the Schedule skipped because its previous run was still running (since created)",
    ["schedule"],
)
OVERDUE = Gauge(
    "telebill_notifications_overdue",
    "Pending bills whose planned send instant passed (by TELEBILL_OVERDUE_GRACE_S) without "
    "their workflow (reason no_workflow) or, the STUCK time later, without an outcome "
    "(reason no_outcome)",
    ["reason"],
)
OVERDUE_OLDEST = Gauge(
    "telebill_notifications_overdue_oldest_seconds",
    "Age of the oldest overdue bill's planned send instant (0: none overdue)",
)


def deferral_reason(reason: str) -> str:
    """The label of a deferral's reason text ("inside quiet hours 22:00–08:00 …; deferred to")."""
    return DeferralKind.of(reason).name.lower()
