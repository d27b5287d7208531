"""Channel chains as configuration: parsed, validated, always ending in SMS."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from telebill.domain.chain import ChannelChain, parse_chains


def test_chains_parse_by_first_channel_and_keep_the_defaults() -> None:
    chains = parse_chains("alimtalk>email>sms; push > sms")
    assert chains["alimtalk"].channels == ("alimtalk", "email", "sms")
    assert chains["push"].after("push") == "sms"
    assert chains["email"].channels == ("email", "sms")  # always there
    assert chains["sms"].after("sms") is None
    assert parse_chains("")["email"].label == "email → sms"


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("alimtalk>email", "ends in sms"),
        ("email>sms>email", "twice"),
        ("Email>sms", "lowercase"),
        ("email>sms;email>push>sms", "same channel"),
        (">sms", "lowercase"),
        ("a1>b1>c1>d1>sms", "1–4 channels"),
    ],
)
def test_a_bad_chain_is_refused_with_the_reason(text: str, says: str) -> None:
    with pytest.raises(ValueError, match=says):
        parse_chains(text)


names = st.lists(st.from_regex(r"[a-r][a-z0-9]{1,5}", fullmatch=True), unique=True, max_size=3)


@given(names)
def test_following_a_chain_visits_each_channel_once_and_ends_in_sms(head: list[str]) -> None:
    chain = ChannelChain((*head, "sms"))
    visited: list[str] = []
    at: str | None = chain.first
    while at is not None:
        visited.append(at)
        at = chain.after(at)
    assert visited == list(chain.channels) and visited[-1] == "sms"
