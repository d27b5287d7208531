"""How new topics are replicated: three copies and two in sync where the cluster allows it."""

from __future__ import annotations

import pytest

from telebill.stack.kafka_node import kafka_uuid
from telebill.stack.kafka_topics import replication
from telebill.stack.process import StackError


@pytest.mark.parametrize(
    ("brokers", "expected"), [(1, (1, 1)), (2, (2, 1)), (3, (3, 2)), (5, (3, 2))]
)
def test_defaults_fit_the_cluster(brokers: int, expected: tuple[int, int]) -> None:
    assert replication(brokers) == expected


def test_a_configured_factor_is_kept_or_refused_with_why() -> None:
    assert replication(5, 5, 3) == (5, 3)
    assert replication(3, 2) == (2, 1)
    with pytest.raises(
        StackError, match="replication factor 3 needs 3 Kafka brokers; the cluster has 1"
    ):
        replication(1, 3)
    with pytest.raises(
        StackError, match=r"min\.insync\.replicas 3 is more than the replication factor 2"
    ):
        replication(3, 2, 3)


def test_a_cluster_id_never_starts_with_a_dash() -> None:
    """Kafka's storage tool would read such an id as an option (1 in 64 random ids)."""
    ids = [kafka_uuid() for _ in range(5000)]
    assert not [i for i in ids if i.startswith("-")]
    assert all(len(i) == 22 for i in ids)
