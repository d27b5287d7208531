"""The members' home: every statement on `member`, `subscription`, `usage_monthly` and
`population`. Members' delivery preferences and micro-payment limit (read, validate, change), and
the population `telebill seed` loads."""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, time
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import asyncpg

from telebill.db.blackout_store import blackout_windows
from telebill.db.connect import DbConn
from telebill.db.send_rules import lock_send_windows
from telebill.domain.send_window import (
    NoAllowedInstant,
    check_preferences,
    parse_hhmm,
    quiet_hours,
)
from telebill.errors import NotFound, TelebillError


@dataclass(frozen=True)
class MemberPrefs:
    id: int
    name: str
    email: str
    phone: str
    preferred_day: int
    quiet_start: time | None
    quiet_end: time | None
    timezone: str
    micro_payment_limit_krw: int  # 소액결제 한도: the settlement refuses a month past it
    bill_channel: str  # where the member's bills start: the first channel of its chain
    has_app: bool  # a push token is on file (the token itself stays in the database)

    @property
    def quiet_label(self) -> str:
        if self.quiet_start is None or self.quiet_end is None:
            return "none"
        return f"{self.quiet_start:%H:%M}–{self.quiet_end:%H:%M}"


async def get_member(conn: DbConn, member_id: int) -> MemberPrefs:
    r = await conn.fetchrow(
        "SELECT id, name, email, phone, preferred_day, quiet_start, quiet_end, timezone, "
        "micro_payment_limit_krw, bill_channel, push_token IS NOT NULL FROM member WHERE id = $1",
        member_id,
    )
    if r is None:
        raise NotFound(f"no member {member_id}")
    return MemberPrefs(*r.values())


MICRO_LIMIT_CEILING = 1_000_000  # won a month: the legal ceiling for mobile micro-payments


async def set_micro_limit(conn: DbConn, member_id: int, limit_krw: int) -> MemberPrefs:
    """The member's monthly micro-payment limit, 0 (blocked) to 1,000,000원; it applies to the
    months settled from now on."""
    if not 0 <= limit_krw <= MICRO_LIMIT_CEILING:
        raise TelebillError(
            f"a micro-payment limit is 0–{MICRO_LIMIT_CEILING:,}원, got {limit_krw:,}원"
        )
    done = await conn.execute(
        "UPDATE member SET micro_payment_limit_krw = $2 WHERE id = $1", member_id, limit_krw
    )
    if done == "UPDATE 0":
        raise NotFound(f"no member {member_id}")
    return await get_member(conn, member_id)


def parse_quiet(text: str) -> tuple[time, time]:
    """'22:00-08:00' → (22:00, 08:00); refused with the reason when malformed or empty."""
    parts = text.replace("–", "-").split("-")
    if len(parts) != 2:
        raise TelebillError(f"quiet hours must be HH:MM-HH:MM, got {text!r}")
    try:
        start, end = parse_hhmm(parts[0]), parse_hhmm(parts[1])
    except ValueError as exc:
        raise TelebillError(f"quiet hours: {exc}") from None
    if start == end:
        raise TelebillError("quiet hours need start ≠ end (use --no-quiet for none)")
    return start, end


async def update_member(
    conn: DbConn,
    member_id: int,
    system_zone: str,
    preferred_day: int | None = None,
    quiet: tuple[time, time] | None = None,
    no_quiet: bool = False,
    timezone: str | None = None,
    bill_channel: str | None = None,
) -> MemberPrefs:
    """Validate and save; returns the member as saved. Refuses a day outside 1–31, an unknown
    zone, and quiet hours that with the system blackout leave a day with no time to send (the
    caller checks the channel against the installation's chains)."""
    async with conn.transaction():
        await lock_send_windows(conn)  # no blackout window added between check and save
        return await _update(
            conn, member_id, system_zone, preferred_day, quiet, no_quiet, timezone, bill_channel
        )


async def _update(
    conn: DbConn,
    member_id: int,
    system_zone: str,
    preferred_day: int | None,
    quiet: tuple[time, time] | None,
    no_quiet: bool,
    timezone: str | None,
    bill_channel: str | None,
) -> MemberPrefs:
    m = await get_member(conn, member_id)
    if preferred_day is not None and not 1 <= preferred_day <= 31:
        raise TelebillError(f"preferred day must be 1–31, got {preferred_day}")
    zone = timezone or m.timezone
    try:
        ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError):
        raise TelebillError(f"unknown time zone {zone!r}") from None
    start, end = (None, None) if no_quiet else (quiet or (m.quiet_start, m.quiet_end))
    windows = await blackout_windows(conn, system_zone)
    if quiet_window := quiet_hours(start, end, zone):
        windows.append(quiet_window)
    try:
        check_preferences(windows, zone)
    except NoAllowedInstant as exc:
        raise TelebillError(f"refused: {exc}") from None
    await conn.execute(
        "UPDATE member SET preferred_day = $2, quiet_start = $3, quiet_end = $4, timezone = $5, "
        "bill_channel = coalesce($6, bill_channel) WHERE id = $1",
        member_id,
        preferred_day or m.preferred_day,
        start,
        end,
        zone,
        bill_channel,
    )
    return await get_member(conn, member_id)


# The population as `telebill seed` makes it (telebill/seed/load.py generates and plans it):
# `population`, and `member`, `subscription`, `usage_monthly` loaded with COPY.

POPULATION_TABLES = ("member", "subscription", "usage_monthly")  # what a seed chunk loads
SEED_LOCK_KEY = 0x7E1EB5EED  # one seeder per database at a time


async def lock_seeding(conn: DbConn) -> None:
    """Wait for any other seeder of this database; held until `unlock_seeding` (a session lock:
    a seed spans many transactions)."""
    await conn.execute("SELECT pg_advisory_lock($1)", SEED_LOCK_KEY)


async def unlock_seeding(conn: DbConn) -> None:
    await conn.execute("SELECT pg_advisory_unlock($1)", SEED_LOCK_KEY)


async def population_seed(conn: DbConn) -> int | None:
    """The seed the members were generated with, if any were."""
    seed: int | None = await conn.fetchval("SELECT seed FROM population WHERE id = 1")
    return seed


async def record_population_seed(conn: DbConn, seed: int) -> None:
    """Remember the seed, unless one is remembered already."""
    if await population_seed(conn) is None:
        await conn.execute("INSERT INTO population (id, seed) VALUES (1, $1)", seed)


async def member_ids(conn: DbConn) -> tuple[int, int]:
    """(members, the largest member id)."""
    count, top = await conn.fetchrow("SELECT count(*), coalesce(max(id), 0) FROM member")  # type: ignore[misc]
    return int(count), int(top)


async def usage_member_ids(conn: DbConn, month: date) -> tuple[int, int]:
    """(members with usage in `month`, the largest of their ids)."""
    count, top = await conn.fetchrow(  # type: ignore[misc]
        "SELECT count(DISTINCT member_id), coalesce(max(member_id), 0) FROM usage_monthly "
        "WHERE billing_month = $1",
        month,
    )
    return int(count), int(top)


async def copy_population_chunk(
    conn: asyncpg.Connection, parts: Sequence[tuple[str, bytes, tuple[str, ...]]]
) -> None:
    """One transaction: each (table, COPY text, its columns) in order (members before their
    subscriptions, before their usage)."""
    async with conn.transaction():
        for table, data, columns in parts:
            if table not in POPULATION_TABLES:
                raise ValueError(f"not a population table: {table!r}")
            if data:
                await conn.copy_to_table(
                    table, source=io.BytesIO(data), columns=columns, format="text"
                )


async def after_population_load(conn: DbConn) -> None:
    """Rows came with explicit ids: move the identity sequences past them for later inserts,
    and give the planner the new sizes."""
    for table in ("member", "subscription"):
        await conn.execute(
            f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
            f"greatest((SELECT max(id) FROM {table}), 1))"
        )
    await conn.execute("ANALYZE member, subscription, usage_monthly")
