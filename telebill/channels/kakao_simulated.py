"""The simulated KakaoTalk AlimTalk provider's own rules, as Kakao's server applies them: a
phone number that is not a KakaoTalk user cannot get an AlimTalk (code 3018), and a message
whose text is not its approved template filled in is refused (code 3016). Both are permanent:
the next channel of the chain is tried at once. Its temporary errors are the simulated
provider's failure rate, retried like any other."""

from __future__ import annotations

import hashlib

import asyncpg

from telebill.channels.alimtalk import matches
from telebill.channels.base import RenderedMessage
from telebill.db.template_store import find_row

NOT_A_USER = "3018 not a KakaoTalk user"
MISMATCH = "3016 the message does not match its approved template"


def is_user(phone: str, non_user_rate: float) -> bool:
    """The same number always gets the same answer (a stable hash, not a random draw)."""
    digest = hashlib.sha256(phone.encode()).digest()
    return int.from_bytes(digest[:4], "big") / 2**32 >= non_user_rate


class KakaoRules:
    def __init__(self, pool: asyncpg.Pool, non_user_rate: float) -> None:
        self.pool = pool
        self.non_user_rate = non_user_rate
        self._approved: dict[tuple[str, int], str | None] = {}  # (code, version) → body

    async def refusal(self, phone: str, message: RenderedMessage) -> str | None:
        if not is_user(phone, self.non_user_rate):
            return NOT_A_USER
        body = await self._approved_body(message.template_code, message.template_version)
        if body is None or not matches(body, message.body):
            return MISMATCH
        return None

    async def _approved_body(self, code: str, version: int) -> str | None:
        """A stored version is one Kakao approved (a draft, version 0, never is)."""
        key = (code, version)
        if key not in self._approved:
            # the stored row itself (telebill/db/), not telebill.templates' store, which
            # knows the channels: so channels and templates do not import each other
            async with self.pool.acquire() as conn:
                row = await find_row(conn, "alimtalk", code, version)
            self._approved[key] = row.body if row is not None else None
        return self._approved[key]
