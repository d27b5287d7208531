"""The generator is pure and deterministic; chunks can be regenerated alone and filtered."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from telebill.seed.generate import CHUNK, Catalogue, ChunkRequest, Plan, generate_chunk, phone_for

CATALOGUE = Catalogue(
    plans=(
        Plan(101, "LTE_SENIOR_300M", 300, 3000, 50),
        Plan(105, "5G_SLIM_8G", 8192, None, None),
        Plan(107, "5G_PREMIUM_UNL", None, None, None),
    ),
    addon_ids=(201, 202, 203, 204),
    device_ids=(301, 302),
)
NOV = date(2026, 11, 1)


def request(
    start: int = 1,
    end: int = 300,
    members_after: int = 0,
    usage_after: int = 0,
    seed: int = 42,
    month: date = NOV,
) -> ChunkRequest:
    return ChunkRequest(seed, CATALOGUE, month, start, end, members_after, usage_after)


def test_same_request_same_bytes() -> None:
    assert generate_chunk(request()) == generate_chunk(request())


def test_another_seed_or_month_changes_the_rows() -> None:
    base = generate_chunk(request())
    assert generate_chunk(request(seed=7)).member != base.member
    other_month = generate_chunk(request(month=date(2026, 12, 1)))
    assert other_month.member == base.member  # the people do not change with the month
    assert other_month.usage != base.usage


def test_skipping_existing_members_yields_the_tail_of_the_full_chunk() -> None:
    full = generate_chunk(request(end=300))
    tail = generate_chunk(request(end=300, members_after=120, usage_after=200))
    full_members = full.member.decode().splitlines()
    assert tail.member.decode().splitlines() == full_members[120:]
    full_usage = [ln for ln in full.usage.decode().splitlines() if int(ln.split("\t")[1]) > 200]
    assert tail.usage.decode().splitlines() == full_usage
    assert tail.usage_members == 100


def test_a_shorter_chunk_is_a_prefix_of_a_longer_one() -> None:
    short = generate_chunk(request(end=50)).member.decode().splitlines()
    long = generate_chunk(request(end=300)).member.decode().splitlines()
    assert long[:50] == short


def test_unaligned_chunks_are_refused() -> None:
    with pytest.raises(ValueError, match="aligned"):
        generate_chunk(request(start=2))
    with pytest.raises(ValueError, match="aligned"):
        generate_chunk(request(start=1, end=CHUNK + 1))


def test_every_subscription_has_one_usage_row_and_every_member_one_plan() -> None:
    rows = generate_chunk(request(end=500))
    subs = [ln.split("\t") for ln in rows.subscription.decode().splitlines()]
    usage = [ln.split("\t") for ln in rows.usage.decode().splitlines()]
    assert sorted(u[2] for u in usage) == sorted(s[0] for s in subs)
    plan_ids = {p.id for p in CATALOGUE.plans}
    plans_per_member: dict[str, int] = {}
    for s in subs:
        if int(s[2]) in plan_ids:
            plans_per_member[s[1]] = plans_per_member.get(s[1], 0) + 1
    assert len(plans_per_member) == 500 and set(plans_per_member.values()) == {1}


@settings(max_examples=200)
@given(st.integers(1, 10**8 - 1), st.integers(1, 10**8 - 1), st.integers(0, 10**6))
def test_phone_numbers_are_distinct_for_distinct_members(a: int, b: int, seed: int) -> None:
    if a != b:
        assert phone_for(a, seed) != phone_for(b, seed)
    assert phone_for(a, seed).startswith("010-")
