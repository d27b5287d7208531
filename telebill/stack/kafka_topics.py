"""The platform's topics on a Kafka cluster: created when missing, replicated to fit it."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Iterable

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError
from aiokafka.protocol.metadata import MetadataRequest

from telebill.messaging.kafka_auth import KafkaAccess, client_kwargs
from telebill.messaging.topics import DEFAULT_CHANNELS, all_topics
from telebill.stack.process import StackError

DEFAULT_REPLICATION, DEFAULT_MIN_INSYNC = 3, 2


def replication(
    brokers: int, factor: int | None = None, min_insync: int | None = None
) -> tuple[int, int]:
    """(replication factor, min.insync.replicas) for new topics on a cluster of `brokers`:
    as configured, else 3 and 2 where there are three brokers or more (one broker may be lost
    without losing an acknowledged event or stopping writes), else every broker and 1."""
    rf = factor if factor is not None else min(DEFAULT_REPLICATION, brokers)
    if rf > brokers:
        raise StackError(
            f"replication factor {rf} needs {rf} Kafka brokers; the cluster has {brokers} "
            "(TELEBILL_KAFKA_REPLICATION_FACTOR)"
        )
    isr = min_insync if min_insync is not None else (DEFAULT_MIN_INSYNC if rf >= 3 else 1)
    if isr > rf:
        raise StackError(
            f"min.insync.replicas {isr} is more than the replication factor {rf}: no write "
            "could be acknowledged (TELEBILL_KAFKA_MIN_INSYNC_REPLICAS)"
        )
    return rf, isr


async def ensure_topics(
    kafka: KafkaAccess,
    partitions: int,
    prefix: str = "",
    factor: int | None = None,
    min_insync: int | None = None,
    channels: Iterable[str] = DEFAULT_CHANNELS,
) -> list[str]:
    """Create whichever of the platform's topics are missing, replicated as `replication()`
    says for this cluster, and return the ones created once every partition of them has a
    leader: on a cluster the creation is acknowledged before the other brokers' metadata shows
    the topic, and a client that asks one of those right after `stack up` saw no partitions."""
    admin = AIOKafkaAdminClient(**client_kwargs(kafka), request_timeout_ms=30000)
    await admin.start()
    try:
        brokers = len((await admin.describe_cluster())["brokers"])
        rf, isr = replication(brokers, factor, min_insync)
        existing = set(await admin.list_topics())
        missing = [t for t in all_topics(prefix, channels) if t not in existing]
        if missing:
            configs = {"min.insync.replicas": str(isr)}
            with contextlib.suppress(TopicAlreadyExistsError):  # another `up` raced us
                await admin.create_topics(
                    [
                        NewTopic(
                            t,
                            num_partitions=partitions,
                            replication_factor=rf,
                            topic_configs=configs,
                        )
                        for t in missing
                    ]
                )
            await _wait_for_leaders(admin, missing, partitions)
        return missing
    finally:
        await admin.close()


async def topic_names(kafka: KafkaAccess) -> set[str]:
    admin = AIOKafkaAdminClient(**client_kwargs(kafka))
    await admin.start()
    try:
        return set(await admin.list_topics())
    finally:
        await admin.close()


async def delete_topics(kafka: KafkaAccess, names: Iterable[str]) -> int:
    """Delete `names` (the topics of a test's or a benchmark's installation: a broker left with
    49,000 partitions of earlier runs refused writes to new topics, NotLeaderForPartitionError);
    how many."""
    doomed = sorted(names)
    admin = AIOKafkaAdminClient(**client_kwargs(kafka), request_timeout_ms=60000)
    await admin.start()
    try:
        for first in range(0, len(doomed), 100):
            await admin.delete_topics(doomed[first : first + 100], timeout_ms=60000)
    finally:
        await admin.close()
    return len(doomed)


async def _wait_for_leaders(
    admin: AIOKafkaAdminClient, topics: list[str], partitions: int, within_s: float = 60.0
) -> None:
    """Until every broker's metadata shows every partition of `topics` with a leader. The public
    `describe_topics` asks a random broker; asking each one by id goes through the client's
    `_send_request` (aiokafka is pinned in the lock)."""
    nodes = [b["node_id"] for b in (await admin.describe_cluster())["brokers"]]
    deadline = time.monotonic() + within_s
    pending = set(nodes)
    while True:
        for node in sorted(pending):
            response = await admin._send_request(
                MetadataRequest(topics, allow_auto_topic_creation=False), node_id=node
            )
            described = response.to_object()["topics"]
            if len(described) == len(topics) and all(
                not d["error_code"]
                and len(d["partitions"]) == partitions
                and all(p["leader"] >= 0 for p in d["partitions"])
                for d in described
            ):
                pending.discard(node)
        if not pending:
            return
        if time.monotonic() > deadline:
            raise StackError(
                f"Kafka created {', '.join(topics)}, but brokers {sorted(pending)} showed no "
                f"leader for them within {within_s:.0f} s"
            )
        await asyncio.sleep(0.2)
