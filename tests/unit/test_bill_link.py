"""The member's bill link (telebill/domain/bill_link.py, telebill/channels/links.py): a token
that only the link key makes, that opens one bill of one member until its expiry, and that no
change of any of its characters, nor any other key, turns into a link that opens anything."""

from __future__ import annotations

import base64
import errno
import hashlib
import hmac
import os
import stat
import struct
import tempfile
import threading
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import SecretStr, ValidationError

from telebill.channels.links import PAGE_PATH, BillLinks
from telebill.config import Settings
from telebill.credentials import MIN_LINK_KEY_CHARS, ensure_link_key, link_key_file
from telebill.domain.bill_link import PURPOSE, TOKEN_CHARS, LinkClaims, expiry, sign, verify
from telebill.errors import TelebillError

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
    local = Settings(stack_dir=tmp_path, web_port=58081)  # not a second stack's port from the env
    assert local.web_url == "http://127.0.0.1:58081"
    assert "TELEBILL_WEB_LINK_KEY" not in local.process_env()


# Enough trials that the race the pid-named temporary file lost (one thread's O_TRUNC emptying
# the file another had linked as the key) shows in every run: the review saw it within 300
# trials of 8 threads. A barrier starts each trial's threads together.
RACE_TRIALS = 300
RACERS = 8


def race_for_the_key(stack_dir: Path) -> list[str | BaseException]:
    start = threading.Barrier(RACERS)
    found: list[str | BaseException] = []

    def racer() -> None:
        start.wait()
        try:
            found.append(ensure_link_key(stack_dir))
        except BaseException as exc:  # the outcome checked below, not raised in a thread
            found.append(exc)

    racers = [threading.Thread(target=racer) for _ in range(RACERS)]
    for r in racers:
        r.start()
    for r in racers:
        r.join()
    return found


def test_the_stacks_key_is_generated_once_privately_and_shared(tmp_path: Path) -> None:
    for trial in range(RACE_TRIALS):
        stack_dir = tmp_path / str(trial)
        found = race_for_the_key(stack_dir)
        assert len(found) == RACERS and all(isinstance(k, str) for k in found), found
        assert len(set(found)) == 1, f"trial {trial}: {len(set(found))} keys"
        key = str(found[0])
        assert len(key) >= MIN_LINK_KEY_CHARS
        path = link_key_file(stack_dir)
        assert path.read_text().strip() == key
        assert os.listdir(path.parent) == [path.name]  # no temporary file left behind
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert Settings(stack_dir=stack_dir).bill_link_key() == key.encode()


@pytest.mark.parametrize("kept", ["", "\n", "short-key", "x" * (MIN_LINK_KEY_CHARS - 1)])
def test_a_short_or_empty_key_file_is_refused(tmp_path: Path, kept: str) -> None:
    path = link_key_file(tmp_path)
    path.parent.mkdir(parents=True)
    path.write_text(kept)
    with pytest.raises(TelebillError, match=r"shorter than 32 characters.*TELEBILL_WEB_LINK_KEY"):
        Settings(stack_dir=tmp_path).bill_link_key()


@pytest.mark.parametrize("given_key", ["", "x" * (MIN_LINK_KEY_CHARS - 1)])
def test_a_short_or_empty_key_setting_is_refused(
    given_key: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TELEBILL_WEB_LINK_KEY", given_key)
    with pytest.raises(ValidationError, match="web_link_key"):
        Settings()
    with pytest.raises(ValueError, match="32 characters"):
        BillLinks("https://bills.example", given_key.encode(), 60, SEOUL)


def test_a_stack_folder_that_cannot_be_written_is_one_clear_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A real read-only folder where the tests are not root (root writes through mode bits);
    # as root, the file system's own answer to a read-only mount stands in for it.
    tmp_path.chmod(0o500)
    if os.geteuid() == 0:

        def read_only(*_: object, **__: object) -> tuple[int, str]:
            raise OSError(errno.EROFS, os.strerror(errno.EROFS))

        monkeypatch.setattr(tempfile, "mkstemp", read_only)
    try:
        with pytest.raises(TelebillError) as refused:
            Settings(stack_dir=tmp_path / "stack").bill_link_key()
    finally:
        tmp_path.chmod(0o700)
    message = str(refused.value)
    assert "\n" not in message and "TELEBILL_WEB_LINK_KEY" in message
    assert str(link_key_file(tmp_path / "stack")) in message


def test_a_stack_folder_under_a_file_is_one_clear_line(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    with pytest.raises(TelebillError, match=r"cannot keep the bill links' key in .*TELEBILL_WEB"):
        Settings(stack_dir=tmp_path / "file" / "stack").bill_link_key()


@pytest.mark.parametrize(
    ("changes", "named"),
    [
        ({"web_base_url": "https://bills.example.com"}, "TELEBILL_WEB_BASE_URL"),
        ({"web_base_url": "http://127.0.0.1:8080"}, "TELEBILL_WEB_BASE_URL"),
        ({"database_url": "postgresql://u:p@db.example.com:5432/telebill"}, "another host"),
        ({"database_url": "postgresql://u:p@db:5432/telebill"}, "another host"),
    ],
)
def test_no_key_is_generated_beyond_the_local_stack(
    tmp_path: Path, changes: dict[str, str], named: str
) -> None:
    """Processes on several hosts would each generate a key of their own, and each would 404
    the others' links: an installation that is evidently more than this stack must be given
    its key."""
    s = Settings(stack_dir=tmp_path, **changes)  # type: ignore[arg-type]
    with pytest.raises(TelebillError, match=f"TELEBILL_WEB_LINK_KEY is not set.*{named}"):
        s.bill_link_key()
    assert not link_key_file(tmp_path).exists()
    with pytest.raises(TelebillError):
        BillLinks.from_settings(s)


@pytest.mark.parametrize(
    "database_url",
    [
        None,
        "postgresql://u:p@127.0.0.1:55432/telebill",
        "postgresql://u:p@localhost/telebill",
        "postgresql://u:p@[::1]:5432/telebill",
        "postgresql:///telebill?host=/var/run/postgresql",
    ],
)
def test_the_local_stack_still_generates_its_key(tmp_path: Path, database_url: str | None) -> None:
    key = Settings(stack_dir=tmp_path, database_url=database_url).bill_link_key()
    assert len(key) >= MIN_LINK_KEY_CHARS
    assert link_key_file(tmp_path).read_text().strip().encode() == key


@pytest.mark.parametrize(
    ("host", "url"),
    [
        ("127.0.0.1", "http://127.0.0.1:58081"),
        ("0.0.0.0", "http://127.0.0.1:58081"),  # where it listens, not where a link can go
        ("::", "http://127.0.0.1:58081"),
        ("", "http://127.0.0.1:58081"),
        ("::1", "http://[::1]:58081"),
        ("localhost", "http://localhost:58081"),
    ],
)
def test_the_local_stacks_default_links(host: str, url: str) -> None:
    assert Settings(web_host=host, web_port=58081).web_url == url


@pytest.mark.parametrize("host", ["192.0.2.10", "2001:db8::10", "bills.example.com"])
def test_no_default_link_over_plain_http_to_another_host(host: str) -> None:
    with pytest.raises(TelebillError, match="TELEBILL_WEB_BASE_URL is not set"):
        _ = Settings(web_host=host).web_url


@pytest.mark.parametrize(
    "base",
    [
        "https://bills.example.com",
        "https://bills.example.com/prefix",
        "https://[2001:db8::1]:8443",
        "http://127.0.0.1:8080",
        "http://[::1]:8080",
        "http://localhost:8080",
    ],
)
def test_a_base_url_over_https_or_on_loopback_is_taken(base: str) -> None:
    assert Settings(web_base_url=base + "/").web_url == base


@pytest.mark.parametrize(
    "base",
    [
        "http://bills.example.com",
        "http://192.0.2.10:58081",
        "http://[2001:db8::1]:8080",
        "http://0.0.0.0:58081",
        "https://0.0.0.0",
        "https://[::]:8443",
    ],
)
def test_a_base_url_in_the_clear_or_to_no_host_is_refused(base: str) -> None:
    with pytest.raises(ValidationError, match="web_base_url"):
        Settings(web_base_url=base)
