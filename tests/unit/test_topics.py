from __future__ import annotations

import pytest

from telebill.messaging import topics


def test_every_retry_tier_of_both_channels_has_a_topic() -> None:
    names = topics.all_topics()
    assert len(names) == len(set(names))
    for channel in (topics.EMAIL, topics.SMS):
        for tier in range(1, topics.MAX_RETRY_TIERS + 1):
            assert f"{channel}.retry.{tier}" in names
    assert topics.DLQ in names


@pytest.mark.parametrize("tier", [0, topics.MAX_RETRY_TIERS + 1])
def test_retry_tier_out_of_range_is_refused(tier: int) -> None:
    with pytest.raises(ValueError, match="retry tier"):
        topics.retry_topic(topics.EMAIL, tier)
