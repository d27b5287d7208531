from __future__ import annotations

import pytest

from telebill.domain.chain import chain_channels
from telebill.messaging import topics


def test_every_retry_tier_of_both_channels_has_a_topic() -> None:
    names = topics.all_topics()
    assert len(names) == len(set(names))
    for channel in ("billing.email", "billing.sms"):
        for tier in range(1, topics.MAX_RETRY_TIERS + 1):
            assert f"{channel}.retry.{tier}" in names
    assert topics.DLQ in names


def test_each_channel_of_the_chains_gets_its_topics_and_no_other() -> None:
    used = chain_channels("alimtalk>email>sms;push>email>sms")
    assert used == ["alimtalk", "email", "sms", "push"]
    names = topics.Topics("p.").all(used)
    assert "p.billing.alimtalk" in names and "p.billing.push.retry.5" in names
    assert len(names) == 4 * (1 + topics.MAX_RETRY_TIERS) + 2  # and the DLQ, the smoke test
    assert not [n for n in topics.all_topics() if "alimtalk" in n or "push" in n]


@pytest.mark.parametrize("tier", [0, topics.MAX_RETRY_TIERS + 1])
def test_retry_tier_out_of_range_is_refused(tier: int) -> None:
    with pytest.raises(ValueError, match="retry tier"):
        topics.retry_topic("billing.email", tier)
