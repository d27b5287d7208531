"""The platform's topics on a Kafka cluster: created when missing, replicated to fit it."""

from __future__ import annotations

import contextlib

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

from telebill.messaging.topics import all_topics
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
    bootstrap: str,
    partitions: int,
    prefix: str = "",
    factor: int | None = None,
    min_insync: int | None = None,
) -> list[str]:
    """Create whichever of the platform's topics are missing, replicated as `replication()`
    says for this cluster; return the ones created."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=30000)
    await admin.start()
    try:
        brokers = len((await admin.describe_cluster())["brokers"])
        rf, isr = replication(brokers, factor, min_insync)
        existing = set(await admin.list_topics())
        missing = [t for t in all_topics(prefix) if t not in existing]
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
        return missing
    finally:
        await admin.close()
