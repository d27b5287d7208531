"""A batch that spans a rebalance (records read before it on partitions that moved away, and
after it on partitions this process kept) still commits what it kept: aiokafka refuses a commit
naming a partition it no longer owns as a whole, and the kept partitions would then never be
committed (the hostile-input drill's lag of 10 on a retry tier). A hold on a partition that
moved is not applied either."""

from __future__ import annotations

from typing import Any

from aiokafka import TopicPartition
from aiokafka.errors import IllegalStateError

from telebill.delivery.batch import Hold
from telebill.messaging.consumer import commit_handled
from workers.delivery_consumer import ChannelConsumer

MAIN, TIER = "billing.email", "billing.email.retry.1"


class Consumer:
    """What commit_handled and _hold use of an AIOKafkaConsumer, refusing as aiokafka does."""

    def __init__(self, owned: set[TopicPartition]) -> None:
        self.owned = owned
        self.commits: list[dict[TopicPartition, int] | None] = []
        self.seeks: list[tuple[TopicPartition, int]] = []
        self.paused: set[TopicPartition] = set()

    def assignment(self) -> set[TopicPartition]:
        return set(self.owned)

    async def commit(self, offsets: dict[TopicPartition, int] | None = None) -> None:
        for tp in offsets or {}:
            if tp not in self.owned:
                raise IllegalStateError(f"Partition {tp} is not assigned")
        self.commits.append(offsets)

    def seek(self, tp: TopicPartition, offset: int) -> None:
        if tp not in self.owned:
            raise IllegalStateError(f"No current assignment for partition {tp}")
        self.seeks.append((tp, offset))

    def pause(self, *tps: TopicPartition) -> None:
        self.paused.update(tps)


def as_consumer(c: Consumer) -> Any:
    return c


async def test_a_batch_spanning_a_rebalance_commits_the_partitions_it_kept() -> None:
    kept = {TopicPartition(TIER, 0), TopicPartition(TIER, 2)}
    c = Consumer(kept)
    await commit_handled(as_consumer(c), {(MAIN, 0): 5, (TIER, 0): 4, (TIER, 2): 6})
    assert c.commits == [{TopicPartition(TIER, 0): 4, TopicPartition(TIER, 2): 6}]


async def test_nothing_kept_commits_nothing_rather_than_every_position() -> None:
    c = Consumer({TopicPartition(TIER, 1)})
    await commit_handled(as_consumer(c), {(MAIN, 0): 5})
    assert c.commits == []  # commit(None) would commit batches still in flight


async def test_without_offsets_every_consumed_position_is_committed() -> None:
    c = Consumer({TopicPartition(MAIN, 0)})
    await commit_handled(as_consumer(c))
    assert c.commits == [None]


def test_a_hold_on_a_partition_that_moved_is_not_applied() -> None:
    c = Consumer({TopicPartition(TIER, 0)})
    ChannelConsumer._hold(None, as_consumer(c), Hold((TIER, 1), 7, 0.0))  # type: ignore[arg-type]
    assert c.seeks == [] and not c.paused
