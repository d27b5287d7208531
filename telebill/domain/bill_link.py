"""The token of a member's bill link: the bill, its member and an expiry, signed with
HMAC-SHA256 under the installation's link key.

The token is one URL path segment: base64url (no padding) of a version byte, the bill id, the
member id, the expiry (Unix seconds, each 8 bytes big-endian) and the 32-byte MAC of the rest:
57 bytes, 76 characters, every bit of every character used (57 is a multiple of 3), so any
character changed changes the bytes and the MAC no longer holds.

`verify` does the same work whatever is wrong with a token and answers only "these claims" or
None: the caller cannot tell, and so cannot tell anyone, why a link failed.

Pure: no I/O.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import struct
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

VERSION = 1
# Keyed for this one use: a MAC made with the same key for anything else never passes here.
PURPOSE = b"telebill bill link\x00"
_CLAIMS = struct.Struct(">BQQQ")  # version, bill, member, expiry
_MAC_BYTES = hashlib.sha256().digest_size
TOKEN_CHARS = (_CLAIMS.size + _MAC_BYTES) * 4 // 3
_TOKEN = re.compile(rf"[A-Za-z0-9_-]{{{TOKEN_CHARS}}}")
_NOTHING = bytes(_CLAIMS.size + _MAC_BYTES)  # stands in for a token that is not one
_LARGEST = 2**63 - 1  # PostgreSQL's bigint: no id or instant beyond it is signed


@dataclass(frozen=True)
class LinkClaims:
    bill_id: int
    member_id: int
    expires: int  # Unix seconds: the link works before this instant, not at or after it


def _mac(key: bytes, claims: bytes) -> bytes:
    return hmac.new(key, PURPOSE + claims, hashlib.sha256).digest()


def sign(claims: LinkClaims, key: bytes) -> str:
    for value in (claims.bill_id, claims.member_id, claims.expires):
        if not 0 <= value <= _LARGEST:
            raise ValueError("a bill link signs ids and instants from 0 to 2**63 - 1")
    packed = _CLAIMS.pack(VERSION, claims.bill_id, claims.member_id, claims.expires)
    return base64.urlsafe_b64encode(packed + _mac(key, packed)).decode("ascii")


def verify(token: str, key: bytes, now: datetime) -> LinkClaims | None:
    """The claims of a token this key signed that has not expired at `now`, else None."""
    # The alphabet is checked first: Python's base64 decoder skips characters outside it, so
    # an altered link would otherwise decode to the original's bytes.
    shaped = _TOKEN.fullmatch(token) is not None
    raw = base64.urlsafe_b64decode(token) if shaped else _NOTHING
    packed, mac = raw[: _CLAIMS.size], raw[_CLAIMS.size :]
    signed = hmac.compare_digest(mac, _mac(key, packed))
    version, bill_id, member_id, expires = _CLAIMS.unpack(packed)
    if shaped and signed and version == VERSION and now.timestamp() < expires:
        return LinkClaims(bill_id, member_id, expires)
    return None


@lru_cache(maxsize=64)  # a consumer signs thousands of links a second, of a few due dates
def expiry(due: date, valid_days: int, zone: ZoneInfo) -> int:
    """When a bill's link stops working: at the end of the `valid_days`th day after its due
    date, in the system's time zone (a member anywhere gets the whole of that day there)."""
    last = due + timedelta(days=valid_days)
    end = datetime.combine(last + timedelta(days=1), time(0), tzinfo=zone)
    return int(end.timestamp())
