"""Pure, deterministic generation of one chunk of the population as COPY text (no I/O).

A chunk is CHUNK consecutive member ids. Its random stream depends only on (seed, chunk index)
for members and subscriptions, and on (seed, month, chunk index) for usage, so seeding 1M members
at once or in several runs gives exactly the same rows, and any chunk can be regenerated alone.
"""

from __future__ import annotations

import hashlib
import math
import random
from dataclasses import dataclass
from datetime import date, timedelta
from functools import lru_cache
from typing import TypeVar

from faker import Faker

from telebill.domain.proration import active_period

CHUNK = 10_000
SUBSCRIPTION_SLOTS = 8  # subscription id = member id * 8 + slot: deterministic, no sequence needed

# Plan popularity by product code; a code missing from the catalogue is simply not drawn.
PLAN_WEIGHTS = {
    "LTE_SENIOR_300M": 6,
    "LTE_BUDGET_1G": 6,
    "LTE_TEEN_4G": 5,
    "LTE_DATA_2_5G": 13,
    "5G_SLIM_8G": 20,
    "5G_STANDARD_110G": 32,
    "5G_PREMIUM_UNL": 18,
}
CONTRACT_SHARE = 0.5  # 선택약정 (25% discount)
ADDON_COUNT_WEIGHTS = (30, 35, 25, 10)  # members with 0, 1, 2, 3 add-ons (1.15 on average)
DEVICE_SHARE = 0.35
INSTALLMENT_WEIGHTS = {24: 60, 36: 20, 30: 10, 12: 10}
MICRO_PAYMENT_SHARE = 0.30
MICRO_PAYMENT_MEDIAN = 20_000  # won; log-normal, so most are small and a few reach the limit
MICRO_LIMIT_WEIGHTS = {0: 10, 100_000: 20, 300_000: 45, 500_000: 15, 1_000_000: 10}  # 소액결제 한도
# Changes of service, dated in a window around the months the demos bill (2026-11, 2026-12), so
# that a member's rows do not depend on the month that was seeded first: each month in it has
# some members joining or leaving on a day of it and some changing plan.
CHANGE_WINDOW = (date(2026, 9, 1), date(2027, 2, 28))
JOIN_WINDOW = (date(2026, 9, 1), date(2026, 12, 31))
JOIN_SHARE = 0.015  # members whose service starts in JOIN_WINDOW
LEAVE_SHARE = 0.02  # members whose plan and add-ons end in CHANGE_WINDOW (instalments go on)
PLAN_CHANGE_SHARE = 0.12  # members who move to another plan in CHANGE_WINDOW (about 2% a month)
ADDON_CHANGE_SHARE = 0.10  # add-ons taken or dropped in CHANGE_WINDOW
PLAN_CHANGE_SLOT = 4
QUIET_SHARE = 1 / 3
QUIET_WINDOWS = (  # (start, end, weight); the first three wrap midnight
    ("22:00", "09:00", 30),
    ("21:00", "08:00", 25),
    ("23:00", "07:00", 20),
    ("00:00", "06:00", 10),
    ("12:00", "13:00", 10),
    ("18:00", "20:00", 5),
)
SEOUL_SHARE = 0.97
OTHER_ZONES = (
    "America/Los_Angeles",
    "America/New_York",
    "Asia/Tokyo",
    "Europe/London",
    "Australia/Sydney",
    "Asia/Ho_Chi_Minh",
)
NULL = "\\N"
K = TypeVar("K")


@dataclass(frozen=True)
class Plan:
    id: int
    code: str
    data_mb: int | None  # None: unlimited
    voice_sec: int | None
    sms_count: int | None


@dataclass(frozen=True)
class Catalogue:
    plans: tuple[Plan, ...]
    addon_ids: tuple[int, ...]
    device_ids: tuple[int, ...]


@dataclass(frozen=True)
class ChunkRequest:
    seed: int
    catalogue: Catalogue
    month: date
    start_id: int  # first member id of the chunk (1 + k * CHUNK)
    end_id: int  # last member id to generate, inclusive (≤ start_id + CHUNK - 1)
    members_after: int  # members with id ≤ this exist already: skip their member/subscription rows
    usage_after: int  # members with id ≤ this already have this month's usage


@dataclass(frozen=True)
class ChunkRows:
    start_id: int
    end_id: int
    member: bytes
    subscription: bytes
    usage: bytes
    members: int
    subscriptions: int
    usage_rows: int
    usage_members: int


@dataclass(frozen=True)
class _Sub:
    id: int
    product_id: int
    plan: Plan | None
    starts_on: date
    ends_on: date | None
    contract: bool = False
    installment_months: int | None = None

    def row(self, member_id: int) -> str:
        contract = "t" if self.contract else "f"
        months = self.installment_months or NULL
        return (
            f"{self.id}\t{member_id}\t{self.product_id}\t{self.starts_on}\t{contract}\t"
            f"{months}\t{self.ends_on or NULL}\n"
        )


def _day_in(rng: random.Random, window: tuple[date, date]) -> date:
    return window[0] + timedelta(days=rng.randrange((window[1] - window[0]).days + 1))


def _active_share(sub: _Sub, month: date) -> float:
    """The part of `month` the subscription was active (0 to 1): usage is drawn in proportion."""
    period = active_period(sub.starts_on, sub.ends_on, month)
    return 0.0 if period is None else period.days / period.month_days


@lru_cache(maxsize=4)
def _name_pool(
    seed: int, size: int = 4000
) -> tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]:
    """Korean names, romanised user names and mail domains from Faker ko_KR, drawn once per seed."""
    fake = Faker("ko_KR")
    fake.seed_instance(seed)
    names = tuple(fake.name() for _ in range(size))
    users = tuple(fake.user_name().replace(".", "") for _ in range(size))
    domains = tuple(sorted({fake.free_email_domain() for _ in range(200)}))
    return names, users, domains


def phone_for(member_id: int, seed: int) -> str:
    # An affine map that is a bijection on 0..10^8-1 (odd multiplier, not a multiple of 5), so
    # distinct members get distinct 010 numbers for the first 100M ids.
    n = (member_id * 48_271 + seed * 7_919) % 100_000_000
    return f"010-{n // 10_000:04d}-{n % 10_000:04d}"


# How members choose to get their bill (a Korean operator's mix: most by KakaoTalk, then
# e-mail, the app, text messages), and how many have the app. Drawn from the member id, apart
# from the random streams of members and usage, so the seeded bills stay what they were.
CHANNEL_SHARES = (("alimtalk", 50), ("email", 25), ("push", 15), ("sms", 10))
APP_SHARE_OF_PUSH = 90  # % of those who chose push still have the app (the others skip it)
APP_SHARE_OF_OTHERS = 30


def _draw(member_id: int, seed: int, what: str) -> int:
    """0–99, the same for a member every time."""
    digest = hashlib.blake2b(f"{seed}:{what}:{member_id}".encode(), digest_size=4).digest()
    return int.from_bytes(digest, "big") % 100


def channel_for(member_id: int, seed: int) -> tuple[str, str]:
    """(the member's bill channel, their push token or NULL)."""
    pick, at = _draw(member_id, seed, "channel"), 0
    chosen = CHANNEL_SHARES[-1][0]
    for name, share in CHANNEL_SHARES:
        at += share
        if pick < at:
            chosen = name
            break
    app = APP_SHARE_OF_PUSH if chosen == "push" else APP_SHARE_OF_OTHERS
    token = f"fcm-{seed}-{member_id:x}" if _draw(member_id, seed, "app") < app else NULL
    return chosen, token


def _weighted(rng: random.Random, choices: dict[K, int]) -> K:
    keys = list(choices)
    return rng.choices(keys, weights=[choices[k] for k in keys])[0]


def _member_and_subs(
    rng: random.Random, member_id: int, seed: int, catalogue: Catalogue
) -> tuple[str, list[str], list[_Sub], int]:
    names, users, domains = _name_pool(seed)
    name = names[rng.randrange(len(names))]
    email = f"{users[rng.randrange(len(users))]}{member_id}@{domains[rng.randrange(len(domains))]}"
    day = rng.randint(1, 31)
    if rng.random() < QUIET_SHARE:
        start, end, _ = rng.choices(QUIET_WINDOWS, weights=[w for *_, w in QUIET_WINDOWS])[0]
    else:
        start = end = NULL
    tz = (
        "Asia/Seoul" if rng.random() < SEOUL_SHARE else OTHER_ZONES[rng.randrange(len(OTHER_ZONES))]
    )
    limit = _weighted(rng, MICRO_LIMIT_WEIGHTS)
    bill_channel, push_token = channel_for(member_id, seed)
    member = (
        f"{member_id}\t{name}\t{email}\t{phone_for(member_id, seed)}\t{day}\t{start}\t{end}\t{tz}"
        f"\t{limit}\t{bill_channel}\t{push_token}\n"
    )
    plan_weights = {p.code: PLAN_WEIGHTS.get(p.code, 0) for p in catalogue.plans}
    plan = _plan_of(rng, catalogue, plan_weights)
    base = member_id * SUBSCRIPTION_SLOTS
    starts = date(2020, 1, 1) + timedelta(days=rng.randrange(2000))
    if rng.random() < JOIN_SHARE:
        starts = _day_in(rng, JOIN_WINDOW)
    leaves = _day_in(rng, CHANGE_WINDOW) if rng.random() < LEAVE_SHARE else None
    if leaves is not None and leaves < starts:
        leaves = None
    contract = rng.random() < CONTRACT_SHARE
    subs: list[_Sub] = []
    changed = _day_in(rng, CHANGE_WINDOW) if rng.random() < PLAN_CHANGE_SHARE else None
    if changed is not None and starts < changed and (leaves is None or changed <= leaves):
        new_plan = _plan_of(rng, catalogue, {**plan_weights, plan.code: 0})
        subs.append(_Sub(base, plan.id, plan, starts, changed - timedelta(days=1), contract))
        subs.append(_Sub(base + PLAN_CHANGE_SLOT, new_plan.id, new_plan, changed, leaves, contract))
    else:
        subs.append(_Sub(base, plan.id, plan, starts, leaves, contract))
    n_addons = rng.choices(range(len(ADDON_COUNT_WEIGHTS)), weights=ADDON_COUNT_WEIGHTS)[0]
    for slot, addon in enumerate(rng.sample(catalogue.addon_ids, n_addons), start=1):
        started = starts + timedelta(days=rng.randrange(400))
        ends = leaves
        if rng.random() < ADDON_CHANGE_SHARE:
            when = _day_in(rng, CHANGE_WINDOW)
            if rng.random() < 0.5:
                started = max(starts, when)
            elif when > started:
                ends = when if leaves is None else min(when, leaves)
        if leaves is None or started <= leaves:
            subs.append(_Sub(base + slot, addon, None, started, ends))
    if catalogue.device_ids and rng.random() < DEVICE_SHARE:
        device = catalogue.device_ids[rng.randrange(len(catalogue.device_ids))]
        months = _weighted(rng, INSTALLMENT_WEIGHTS)
        bought = date(2025, 1, 1) + timedelta(days=rng.randrange(600))
        if starts > bought:  # a new member buys the phone with the plan
            bought = starts
        slot = SUBSCRIPTION_SLOTS - 1
        subs.append(_Sub(base + slot, device, None, bought, None, False, months))
    lines = [sub.row(member_id) for sub in subs]
    return member, lines, subs, limit


def _plan_of(rng: random.Random, catalogue: Catalogue, weights: dict[str, int]) -> Plan:
    code = _weighted(rng, weights)
    return next(p for p in catalogue.plans if p.code == code)


def _allowance_use(rng: random.Random, allowance: int, over_share: float, over_max: float) -> int:
    """Most members stay within their allowance; `over_share` of them go beyond it."""
    if rng.random() < over_share:
        return int(allowance * rng.uniform(1.0, over_max)) + 1
    return int(allowance * rng.uniform(0.05, 1.0))


def _usage_lines(
    rng: random.Random, month: date, member_id: int, subs: list[_Sub], micro_limit: int
) -> list[str]:
    """One row per subscription; a plan's quantities in proportion to its active days (every
    draw is made whatever the share, so the stream stays aligned), the micro-payments once per
    member, within the member's limit."""
    lines = []
    micro_left = micro_limit
    for sub in subs:
        plan = sub.plan
        if plan is None:  # add-ons and devices carry no metered usage
            lines.append(f"{month}\t{member_id}\t{sub.id}\t0\t0\t0\t0\n")
            continue
        data = (
            rng.randint(500, 200_000)
            if plan.data_mb is None
            else _allowance_use(rng, plan.data_mb, 0.15, 1.5)
        )
        voice = (
            rng.randint(0, 30_000)
            if plan.voice_sec is None
            else _allowance_use(rng, plan.voice_sec, 0.30, 1.6)
        )
        sms = (
            rng.randint(0, 300)
            if plan.sms_count is None
            else _allowance_use(rng, plan.sms_count, 0.10, 1.5)
        )
        wants = rng.random() < MICRO_PAYMENT_SHARE
        drawn = round(rng.lognormvariate(math.log(MICRO_PAYMENT_MEDIAN), 1.0), -2)
        share = _active_share(sub, month)
        micro = min(int(drawn), micro_left) if wants and share > 0 else 0
        micro_left -= micro
        data, voice, sms = (int(q * share) for q in (data, voice, sms))
        lines.append(f"{month}\t{member_id}\t{sub.id}\t{data}\t{voice}\t{sms}\t{micro}\n")
    return lines


def generate_chunk(req: ChunkRequest) -> ChunkRows:
    chunk_index = (req.start_id - 1) // CHUNK
    if req.start_id != chunk_index * CHUNK + 1 or req.end_id >= req.start_id + CHUNK:
        raise ValueError(f"chunk {req.start_id}..{req.end_id} is not aligned to {CHUNK} members")
    member_rng = random.Random(f"telebill:{req.seed}:members:{chunk_index}")
    usage_rng = random.Random(f"telebill:{req.seed}:usage:{req.month:%Y-%m}:{chunk_index}")
    members: list[str] = []
    subscriptions: list[str] = []
    usage: list[str] = []
    usage_members = 0
    # Always walk the chunk from its first member so the random streams stay aligned; rows of
    # members that already exist are generated and dropped.
    for member_id in range(req.start_id, req.end_id + 1):
        member, sub_lines, subs, limit = _member_and_subs(
            member_rng, member_id, req.seed, req.catalogue
        )
        month_usage = _usage_lines(usage_rng, req.month, member_id, subs, limit)
        if member_id > req.members_after:
            members.append(member)
            subscriptions.extend(sub_lines)
        if member_id > req.usage_after:
            usage.extend(month_usage)
            usage_members += 1
    return ChunkRows(
        start_id=req.start_id,
        end_id=req.end_id,
        member="".join(members).encode(),
        subscription="".join(subscriptions).encode(),
        usage="".join(usage).encode(),
        members=len(members),
        subscriptions=len(subscriptions),
        usage_rows=len(usage),
        usage_members=usage_members,
    )


MEMBER_COLUMNS = (
    "id",
    "name",
    "email",
    "phone",
    "preferred_day",
    "quiet_start",
    "quiet_end",
    "timezone",
    "micro_payment_limit_krw",
    "bill_channel",
    "push_token",
)
SUBSCRIPTION_COLUMNS = (
    "id",
    "member_id",
    "product_id",
    "starts_on",
    "contract_discount",
    "installment_months",
    "ends_on",
)
USAGE_COLUMNS = (
    "billing_month",
    "member_id",
    "subscription_id",
    "data_mb",
    "voice_sec",
    "sms_count",
    "micro_payment_krw",
)
