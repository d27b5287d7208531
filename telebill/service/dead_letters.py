"""Dead letters: bills no channel could deliver, and sending them again."""

from __future__ import annotations

from typing import TYPE_CHECKING

from telebill.db.dead_letter_store import MAX_PAGE, list_dead_letters
from telebill.errors import TelebillError
from telebill.messaging.kafka_auth import kafka_client_kwargs
from telebill.messaging.topics import Topics

if TYPE_CHECKING:
    from telebill.db.dead_letter_store import StoredDeadLetter
    from telebill.delivery.replay import Replayed
    from telebill.service.deps import Deps


async def dead_letters(
    deps: Deps, include_replayed: bool = False, after: int = 0, limit: int = 100
) -> list[StoredDeadLetter]:
    """One page (at most 500) in id order, from after the id `after`."""
    async with deps.db() as conn:
        return await list_dead_letters(conn, include_replayed, after, limit)


async def every_dead_letter(deps: Deps, include_replayed: bool = False) -> list[StoredDeadLetter]:
    """All of them, read a page at a time (the CLI's list)."""
    found: list[StoredDeadLetter] = []
    async with deps.db() as conn:
        while page := await list_dead_letters(
            conn, include_replayed, found[-1].id if found else 0, MAX_PAGE
        ):
            found += page
    return found


async def replay(deps: Deps, ids: list[int] | None, every: bool = False) -> Replayed:
    """Back to the start of the chain (e-mail first); a delivered bill is not sent again, and a
    letter that holds no event to replay is skipped with the reason while the others go on."""
    # lazy: aiokafka's producer, ~20 ms of a command's start, for a replay only
    from telebill.delivery.replay import replay as do_replay

    if not ids and not every:
        raise TelebillError("say which dead letters: their ids, or all")
    s = deps.settings
    async with deps.db() as conn:
        return await do_replay(
            conn, kafka_client_kwargs(s), Topics(s.topic_prefix), None if every else ids
        )
