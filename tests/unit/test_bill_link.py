"""The member's bill link (telebill/domain/bill_link.py, telebill/channels/links.py): a token
that only the link key makes, that opens one bill of one member until its expiry, and that no
change of any of its characters, nor any other key, turns into a link that opens anything."""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import stat
import struct
import threading
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import SecretStr

from telebill.channels.links import PAGE_PATH, BillLinks
from telebill.config import Settings
from telebill.credentials import ensure_link_key, link_key_file
from telebill.domain.bill_link import PURPOSE, TOKEN_CHARS, LinkClaims, expiry, sign, verify

KEY = b"k" * 32
SEOUL = ZoneInfo("Asia/Seoul")
NOW = datetime(2026, 12, 31, 5, 0, tzinfo=UTC)
LATER = int((NOW + timedelta(days=30)).timestamp())
ids = st.integers(min_value=1, max_value=2**63 - 1)
YEAR_9999 = int(datetime(9999, 1, 1, tzinfo=UTC).timestamp())  # as far as datetime goes
ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"


@given(ids, ids, st.integers(min_value=int(NOW.timestamp()) + 1, max_value=YEAR_9999))
def test_a_signed_link_opens_its_bill_until_it_expires(bill: int, member: int, ends: int) -> None:
    token = sign(LinkClaims(bill, member, ends), KEY)
    assert len(token) == TOKEN_CHARS and set(token) <= set(ALPHABET)
    assert verify(token, KEY, NOW) == LinkClaims(bill, member, ends)
    assert verify(token, KEY, datetime.fromtimestamp(ends, UTC)) is None  # not at its end
    assert verify(token, KEY, datetime.fromtimestamp(ends - 1, UTC)) is not None


TOKEN = sign(LinkClaims(123_456, 42, LATER), KEY)


@given(st.integers(min_value=0, max_value=TOKEN_CHARS - 1), st.characters(codec="utf-8"))
def test_any_character_changed_fails(at: int, instead: str) -> None:
    altered = TOKEN[:at] + instead + TOKEN[at + 1 :]
    if altered != TOKEN:
        assert verify(altered, KEY, NOW) is None


@given(st.binary(min_size=1, max_size=1), st.integers(min_value=0, max_value=TOKEN_CHARS - 1))
def test_any_byte_of_the_token_changed_fails(byte: bytes, at: int) -> None:
    raw = bytearray(TOKEN.encode())
    raw[at] = byte[0]
    altered = raw.decode("latin-1")
    if altered != TOKEN:
        assert verify(altered, KEY, NOW) is None


@given(st.text(max_size=120))
def test_anything_else_fails(text: str) -> None:
    assert text == TOKEN or verify(text, KEY, NOW) is None


@pytest.mark.parametrize(
    "token",
    [
        TOKEN[:-1],  # cut short
        TOKEN + "A",  # one more
        TOKEN + "=",  # padding, which the decoder would skip
        TOKEN[:-4] + "\n" + TOKEN[-4:],  # a character the decoder would skip
        TOKEN.swapcase(),
        sign(LinkClaims(123_456, 42, LATER), b"another key of thirty-two bytes!"),
        sign(LinkClaims(123_456, 42, int(NOW.timestamp())), KEY),  # expired: ends now
        sign(LinkClaims(123_456, 42, int(NOW.timestamp()) - 86_400), KEY),  # expired yesterday
        "",
    ],
)
def test_altered_foreign_and_expired_tokens_fail(token: str) -> None:
    assert verify(token, KEY, NOW) is None


def test_another_version_of_the_token_fails_even_if_signed_with_the_key() -> None:
    packed = struct.pack(">BQQQ", 2, 123_456, 42, LATER)
    mac = hmac.new(KEY, PURPOSE + packed, hashlib.sha256).digest()
    assert verify(base64.urlsafe_b64encode(packed + mac).decode(), KEY, NOW) is None


def test_ids_outside_bigint_are_not_signed() -> None:
    for claims in (LinkClaims(-1, 1, LATER), LinkClaims(1, 2**63, LATER)):
        with pytest.raises(ValueError, match="2\\*\\*63"):
            sign(claims, KEY)


def test_a_link_works_to_the_end_of_the_60th_day_after_the_due_date_in_seoul() -> None:
    ends = expiry(date(2026, 12, 25), 60, SEOUL)
    assert datetime.fromtimestamp(ends, SEOUL) == datetime(2027, 2, 24, tzinfo=SEOUL)
    links = BillLinks("https://bills.example", KEY, 60, SEOUL)
    link = links.web_link(7, 3, date(2026, 12, 25))
    token = link.removeprefix(f"https://bills.example{PAGE_PATH}")
    assert verify(token, KEY, datetime(2027, 2, 23, 23, 59, 59, tzinfo=SEOUL)) is not None
    assert verify(token, KEY, datetime(2027, 2, 24, 0, 0, tzinfo=SEOUL)) is None


def test_the_same_bill_always_gets_the_same_link_and_others_another() -> None:
    links = BillLinks("https://bills.example", KEY, 60, SEOUL)
    due = date(2026, 12, 25)
    assert links.web_link(7, 3, due) == links.web_link(7, 3, due)
    assert (
        len({links.web_link(7, 3, due), links.web_link(8, 3, due), links.web_link(7, 4, due)}) == 3
    )
    assert KEY.decode() not in repr(links)  # nor is the key shown in a log or a traceback


def test_settings_give_the_key_and_the_base_and_pass_them_to_children(tmp_path: Path) -> None:
    given_key = "s" * 40
    s = Settings(
        stack_dir=tmp_path,
        web_link_key=SecretStr(given_key),
        web_base_url="https://bills.example.com/",
    )
    assert s.bill_link_key() == given_key.encode() and given_key not in repr(s)
    assert s.web_url == "https://bills.example.com"
    assert (
        BillLinks.from_settings(s)
        .web_link(1, 1, date(2026, 12, 25))
        .startswith("https://bills.example.com/b/")
    )
    env = s.process_env()
    assert env["TELEBILL_WEB_LINK_KEY"] == given_key
    assert env["TELEBILL_WEB_BASE_URL"] == "https://bills.example.com"
    assert not link_key_file(tmp_path).exists()  # a key given: none generated
    local = Settings(stack_dir=tmp_path)
    assert local.web_url == "http://127.0.0.1:58081"
    assert "TELEBILL_WEB_LINK_KEY" not in local.process_env()


def test_the_stacks_key_is_generated_once_privately_and_shared(tmp_path: Path) -> None:
    found: list[str] = []
    racers = [
        threading.Thread(target=lambda: found.append(ensure_link_key(tmp_path))) for _ in range(8)
    ]
    for racer in racers:
        racer.start()
    for racer in racers:
        racer.join()
    assert len(set(found)) == 1 and len(found[0]) >= 32
    path = link_key_file(tmp_path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert os.listdir(path.parent) == [path.name]  # no temporary file left behind
    assert Settings(stack_dir=tmp_path).bill_link_key() == found[0].encode()
