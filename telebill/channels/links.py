"""Where a bill can be opened: the member's signed link to the bill page (AlimTalk's button, a
push's web fallback, the e-mail's "view in browser"), and the app's deep link.

The page's link is `<TELEBILL_WEB_BASE_URL>/b/<token>`, the token signing the bill, its member
and an expiry (telebill/domain/bill_link.py): nobody reaches a bill by counting ids, and a link
stops working some time after the bill is due. The same bill always gets the same link, so a
message sent again is recognisably the same message.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from zoneinfo import ZoneInfo

from telebill.config import Settings
from telebill.credentials import MIN_LINK_KEY_CHARS
from telebill.domain.bill_link import LinkClaims, expiry, sign

PAGE_PATH = "/b/"
APP = "telebill://bills/{bill_id}"


@dataclass(frozen=True)
class BillLinks:
    base_url: str
    key: bytes = field(repr=False)
    valid_days: int
    zone: ZoneInfo

    def __post_init__(self) -> None:
        # an empty or short key is one anybody may guess, and then sign any member's link
        if len(self.key) < MIN_LINK_KEY_CHARS:
            raise ValueError(f"a bill link's key has {MIN_LINK_KEY_CHARS} characters or more")

    @classmethod
    def from_settings(cls, settings: Settings) -> BillLinks:
        return cls(
            settings.web_url,
            settings.bill_link_key(),
            settings.web_link_valid_days,
            ZoneInfo(settings.system_time_zone),
        )

    def web_link(self, bill_id: int, member_id: int, due: date) -> str:
        claims = LinkClaims(bill_id, member_id, expiry(due, self.valid_days, self.zone))
        return f"{self.base_url}{PAGE_PATH}{sign(claims, self.key)}"


def app_link(bill_id: int) -> str:
    return APP.format(bill_id=bill_id)
