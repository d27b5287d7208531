"""A stand-in for the notification workflow's receiving end: waits for the delivery outcome.
(Its own module: the workflow sandbox re-imports it, so it imports only what a workflow may.)"""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from telebill.messaging.outcome import OUTCOME_SIGNAL, DeliveryOutcome


@workflow.defn
class OutcomeWaiter:
    def __init__(self) -> None:
        self.outcome: DeliveryOutcome | None = None

    @workflow.run
    async def run(self) -> str:
        await workflow.wait_condition(lambda: self.outcome is not None)
        assert self.outcome is not None
        return self.outcome.status

    @workflow.signal(name=OUTCOME_SIGNAL)
    def delivery_outcome(self, outcome: DeliveryOutcome) -> None:
        self.outcome = self.outcome or outcome
