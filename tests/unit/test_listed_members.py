"""A send's member list is stored in PostgreSQL and its dispatch names the row (no longer bound by
Temporal's 2 MB payload limit), up to a million members: a longer list is refused by the service
in one line, before anything is stored or started (neither PostgreSQL nor Temporal is reachable
here)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from telebill.config import Settings
from telebill.errors import TelebillError
from telebill.service import notify, reservations
from telebill.service.deps import Deps
from tests.helpers import free_port

TOO_MANY = list(range(1, notify.MAX_LISTED_MEMBERS + 2))


def nowhere() -> Deps:
    return Deps(
        Settings(
            temporal_address=f"127.0.0.1:{free_port()}",
            database_url=f"postgresql://x:y@127.0.0.1:{free_port()}/none",
        )
    )


async def test_send_now_refuses_a_list_longer_than_a_million() -> None:
    with pytest.raises(TelebillError, match=r"1,000,001 members listed; at most 1,000,000"):
        await notify.send_now(nowhere(), "2026-11", TOO_MANY)


async def test_reserve_refuses_it_before_storing_anything() -> None:
    at = datetime.now(UTC) + timedelta(days=1)
    with pytest.raises(TelebillError, match=r"at most 1,000,000 at a time"):
        await reservations.reserve(nowhere(), at, "2026-11", TOO_MANY)


def test_a_list_within_the_limit_passes() -> None:
    assert notify.checked_members(TOO_MANY[:-1]) == TOO_MANY[:-1]
    assert notify.checked_members(None) is None
