"""Consumer-group lag per topic: how many events wait (the figure an autoscaler acts on)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from telebill.messaging.kafka_auth import KafkaAccess, client_kwargs
from telebill.messaging.topics import MAX_RETRY_TIERS, Topics

GROUP_MARK = "telebill-"  # group of kind K is <prefix>telebill-K


@dataclass(frozen=True)
class TopicLag:
    group: str
    topic: str
    partitions: int
    committed: int
    end: int
    lag: int
    members: int  # processes in the group right now

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def expected_topics(topics: Topics, kind: str) -> list[str]:
    """What a group of this kind reads, so a topic it never committed on still shows its lag.
    Every kind but the dead letters is a channel (the installation names its own: alimtalk,
    push, …); a topic that does not exist is skipped by the reader."""
    if kind == "dlq":
        return [topics.dlq]
    return [topics.channel(kind)] + [topics.retry(kind, t) for t in range(1, MAX_RETRY_TIERS + 1)]


def _members(description: Any) -> dict[str, int]:
    """group id → member count, from a DescribeGroups response (any version)."""
    counts: dict[str, int] = {}
    for response in description:
        for group in response.groups:
            # (error_code, group_id, state, protocol_type, protocol, members, …)
            counts[group[1]] = len(group[5])
    return counts


async def consumer_lag(kafka: KafkaAccess, prefix: str = "") -> list[TopicLag]:
    admin = AIOKafkaAdminClient(**client_kwargs(kafka))
    probe = AIOKafkaConsumer(**client_kwargs(kafka), enable_auto_commit=False)
    await admin.start()
    await probe.start()
    try:
        mark = prefix + GROUP_MARK
        groups = sorted(g[0] for g in await admin.list_consumer_groups() if g[0].startswith(mark))
        rows: list[TopicLag] = []
        for group in groups:
            # one group per request: aiokafka misreads a reply describing several
            members = _members(await admin.describe_consumer_groups([group])).get(group, 0)
            offsets = await admin.list_consumer_group_offsets(group)
            names = sorted(
                {tp.topic for tp in offsets}
                | set(expected_topics(Topics(prefix), group[len(mark) :]))
            )
            for described in await admin.describe_topics(names):
                topic = described["topic"]
                parts = [TopicPartition(topic, p["partition"]) for p in described["partitions"]]
                if not parts:
                    continue  # a tier topic that does not exist
                ends = await probe.end_offsets(parts)
                starts = await probe.beginning_offsets(parts)
                done = {
                    tp: offsets[tp].offset
                    if tp in offsets and offsets[tp].offset >= 0
                    else starts[tp]
                    for tp in parts
                }
                rows.append(
                    TopicLag(
                        group,
                        topic,
                        len(parts),
                        sum(done.values()),
                        sum(ends.values()),
                        sum(max(ends[tp] - done[tp], 0) for tp in parts),
                        members,
                    )
                )
        return rows
    finally:
        await probe.stop()
        await admin.close()
