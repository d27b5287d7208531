"""The generator is pure and deterministic; chunks can be regenerated alone and filtered."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from telebill.seed.generate import (
    CHUNK,
    Catalogue,
    ChunkRequest,
    Plan,
    channel_for,
    generate_chunk,
    phone_for,
)

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


def _rows(
    end: int = CHUNK, seed: int = 42
) -> tuple[list[list[str]], list[list[str]], list[list[str]]]:
    rows = generate_chunk(request(end=end, seed=seed))
    return tuple(  # type: ignore[return-value]
        [ln.split("\t") for ln in text.decode().splitlines()]
        for text in (rows.member, rows.subscription, rows.usage)
    )


def test_every_subscription_has_one_usage_row_and_one_plan_at_a_time() -> None:
    _, subs, usage = _rows()
    assert sorted(u[2] for u in usage) == sorted(s[0] for s in subs)
    plan_ids = {p.id for p in CATALOGUE.plans}
    plans: dict[str, list[list[str]]] = {}
    for s in subs:
        if int(s[2]) in plan_ids:
            plans.setdefault(s[1], []).append(s)
    assert len(plans) == CHUNK
    changes = [ps for ps in plans.values() if len(ps) == 2]
    assert all(len(ps) <= 2 for ps in plans.values()) and changes
    for old, new in changes:  # a plan change: the old plan's last day is the eve of the new one's
        assert date.fromisoformat(old[6]) + timedelta(days=1) == date.fromisoformat(new[3])
        assert old[2] != new[2]


@pytest.mark.parametrize("seed", [2, 5, 42])
def test_no_service_ends_before_it_starts(seed: int) -> None:
    _, subs, _ = _rows(seed=seed)
    assert all(s[6] == "\\N" or s[6] >= s[3] for s in subs)  # the table's subscription_period


def test_usage_keeps_to_the_active_days_and_the_micro_payment_limit() -> None:
    members, subs, usage = _rows()
    limit = {m[0]: int(m[8]) for m in members}
    period = {s[0]: (date.fromisoformat(s[3]), None if s[6] == "\\N" else s[6]) for s in subs}
    micro: dict[str, int] = {}
    for u in usage:
        starts, ends = period[u[2]]
        if starts > date(2026, 11, 30) or (ends is not None and ends < "2026-11-01"):
            assert u[3:] == ["0", "0", "0", "0"]  # not active in November: nothing used
        micro[u[1]] = micro.get(u[1], 0) + int(u[6])
    assert all(micro[m] <= limit[m] for m in micro)
    assert any(micro[m] == limit[m] > 0 for m in micro)  # some reach their limit
    assert any(limit[m] == 0 for m in limit)  # some have micro-payments blocked


def test_some_services_start_and_end_inside_the_month() -> None:
    _, subs, _ = _rows()
    starts = [s for s in subs if s[3].startswith("2026-11") and s[3] != "2026-11-01"]
    ends = [s for s in subs if s[6].startswith("2026-11") and s[6] != "2026-11-30"]
    assert starts and ends


@settings(max_examples=200)
@given(st.integers(1, 10**8 - 1), st.integers(1, 10**8 - 1), st.integers(0, 10**6))
def test_phone_numbers_are_distinct_for_distinct_members(a: int, b: int, seed: int) -> None:
    if a != b:
        assert phone_for(a, seed) != phone_for(b, seed)
    assert phone_for(a, seed).startswith("010-")


def test_members_choose_their_bill_channel_in_a_realistic_mix() -> None:
    picks = [channel_for(m, 42) for m in range(1, 20_001)]
    share = {
        c: sum(p[0] == c for p in picks) / len(picks) for c in ("alimtalk", "email", "push", "sms")
    }
    assert share == pytest.approx(
        {"alimtalk": 0.5, "email": 0.25, "push": 0.15, "sms": 0.1}, abs=0.02
    )
    push = [token for c, token in picks if c == "push"]
    assert 0.85 < sum(t != "\\N" for t in push) / len(push) < 0.95  # some uninstalled the app
    assert picks == [channel_for(m, 42) for m in range(1, 20_001)]  # the same every time
    rows = generate_chunk(request()).member.decode().splitlines()
    assert all(r.split("\t")[9] == channel_for(int(r.split("\t")[0]), 42)[0] for r in rows)
