"""Console sessions are kept on the server: the cookie is a random id (never the API token),
each session has its own CSRF token, sign-out and the user's removal end it, so do an idle
time and an absolute end; sign-in is audited whatever its outcome and throttled per address."""

from __future__ import annotations

import asyncio
import re
import subprocess
from pathlib import Path

import httpx

from telebill.config import Settings
from telebill.domain.roles import Role
from tests.integration.api_server import TELEBILL, ApiServer, api_server
from tests.integration.conftest import Databases
from tests.integration.notify_stack import NotifyStack, prepare

COOKIE = "telebill_session"
CLIENTS: list[httpx.AsyncClient] = []


def api_command(stack: NotifyStack, *args: str) -> subprocess.CompletedProcess[str]:
    """`telebill api …` on the stack's installation."""
    return subprocess.run([TELEBILL, "api", *args], env=stack.env(), capture_output=True, text=True)


async def signed_in(api: ApiServer, token: str) -> tuple[httpx.AsyncClient, str]:
    """A browser-like client signed in, and the CSRF token its pages carry (closed at the
    test's end, from CLIENTS)."""
    client = httpx.AsyncClient(base_url=api.url)
    CLIENTS.append(client)
    answer = await client.post("/console/login", data={"token": token})
    assert answer.status_code == 303, answer.text
    page = await client.get("/console/blackouts")
    found = re.search(r'name="csrf-token" content="([0-9a-f]+)"', page.text)
    assert found is not None
    return client, found.group(1)


async def test_sessions_end_when_they_should_and_sign_in_is_audited_and_throttled(
    databases: Databases, settings: Settings
) -> None:
    stack = await prepare(databases, settings, 2)
    c = stack.conn
    env = {"TELEBILL_CONSOLE_SIGN_IN_FAILURES": "3"}
    async with api_server(stack, "sessions", env) as api:
        token = api.tokens[Role.ADMIN]
        first, csrf1 = await signed_in(api, token)
        second, csrf2 = await signed_in(api, token)
        cookie = first.cookies[COOKIE]
        assert cookie != token and token not in cookie and csrf1 != csrf2
        stored = await c.fetch("SELECT id_sha256, csrf FROM console_session")
        assert len(stored) == 2 and all(cookie not in r["id_sha256"] for r in stored)
        window = {"name": "n", "start": "01:00", "end": "02:00"}
        # a session's CSRF token is its own: the other session's is refused
        crossed = await first.post("/api/blackouts", json=window, headers={"X-CSRF-Token": csrf2})
        assert crossed.status_code == 403
        ok = await first.post("/api/blackouts", json=window, headers={"X-CSRF-Token": csrf1})
        assert ok.status_code == 201, ok.text

        # sign-out ends the session on the server: the old cookie no longer works
        out = await first.post("/console/logout", headers={"X-CSRF-Token": csrf1})
        assert out.status_code == 303
        replayed = httpx.AsyncClient(base_url=api.url, cookies={COOKIE: cookie})
        async with replayed:
            assert (await replayed.get("/api/blackouts")).status_code == 401
            assert (await replayed.get("/console")).status_code == 303

        # idle too long, or past its end: over
        assert (await second.get("/api/blackouts")).status_code == 200
        await c.execute("UPDATE console_session SET last_seen_at = now() - interval '31 min'")
        assert (await second.get("/api/blackouts")).status_code == 401
        third, _ = await signed_in(api, token)
        await c.execute("UPDATE console_session SET expires_at = now() - interval '1 s'")
        assert (await third.get("/api/blackouts")).status_code == 401
        fourth, _ = await signed_in(api, token)
        await c.execute("DELETE FROM api_user WHERE name = 'admin'")
        assert (await fourth.get("/api/blackouts")).status_code == 401
        assert await c.fetchval("SELECT count(*) FROM console_session") == 0

        # three wrong tokens from one address: the fourth attempt is refused, even a right one
        async with httpx.AsyncClient(base_url=api.url) as guesser:
            for _ in range(3):
                wrong = await guesser.post("/console/login", data={"token": "guess"})
                assert wrong.status_code == 401
            right = api.tokens[Role.VIEWER]
            throttled = await guesser.post("/console/login", data={"token": right})
            assert throttled.status_code == 429 and "too many wrong tokens" in throttled.text
    for client in CLIENTS:
        await client.aclose()
    audit = [
        (r["action"], r["status"], r["actor"])
        for r in await c.fetch(
            "SELECT action, status, actor FROM audit_log WHERE action LIKE 'sign-%' ORDER BY id"
        )
    ]
    assert audit == [
        ("sign-in", 200, "admin"),
        ("sign-in", 200, "admin"),
        ("sign-out", 200, "admin"),
        ("sign-in", 200, "admin"),
        ("sign-in", 200, "admin"),
        ("sign-in", 401, "-"),
        ("sign-in", 401, "-"),
        ("sign-in", 401, "-"),
        ("sign-in", 429, "-"),
    ]


async def test_a_viewer_sees_contact_data_masked_and_every_full_read_is_audited(
    databases: Databases, settings: Settings
) -> None:
    stack = await prepare(databases, settings, 2)
    c = stack.conn
    real = await c.fetchrow("SELECT name, email, phone FROM member WHERE id = 1")
    assert real is not None
    env = {"TELEBILL_API_PERSONAL_READ_RATE": "2/minute"}
    async with (
        api_server(stack, "personal", env) as api,
        api.client(Role.VIEWER) as viewer,
        api.client(Role.OPERATOR) as operator,
    ):
        seen = (await viewer.get("/api/members/1")).json()
        assert seen["email"] != real["email"] and seen["email"].endswith(real["email"][-8:])
        assert "****" in seen["phone"] and seen["name"] != real["name"]
        full = await operator.get("/api/members/1", params={"reason": "call from the member"})
        assert full.json()["email"] == real["email"] and full.json()["phone"] == real["phone"]
        assert (await operator.get("/api/members/2")).status_code == 200
        assert (await operator.get("/api/members/1")).status_code == 429  # 2 a minute here
    reads = await c.fetch(
        "SELECT actor, target->>'member_id' AS m, target->>'reason' AS why, status "
        "FROM audit_log WHERE action = 'member-read' ORDER BY id"
    )
    assert [(r["actor"], r["m"], r["why"], r["status"]) for r in reads] == [
        ("operator", "1", "call from the member", 200),
        ("operator", "2", "", 200),
        ("operator", "1", "", 429),
    ]


async def test_the_audit_log_is_a_chain_that_shows_a_changed_or_removed_row(
    databases: Databases, settings: Settings, tmp_path: Path
) -> None:
    stack = await prepare(databases, settings, 2)
    c = stack.conn
    async with api_server(stack, "audit") as api, api.client(Role.ADMIN) as admin:
        for name in ("a", "b", "c"):
            window = {"name": name, "start": "01:00", "end": "02:00"}
            assert (await admin.post("/api/blackouts", json=window)).status_code == 201
        await admin.get("/api/members/1", params={"reason": "audit test"})

    def telebill(*args: str) -> subprocess.CompletedProcess[str]:
        return api_command(stack, "audit", *args)

    held = await asyncio.to_thread(telebill, "verify")
    assert held.returncode == 0 and "4 rows, the chain holds" in held.stdout, held.stdout
    out = tmp_path / "audit.jsonl"
    exported = await asyncio.to_thread(telebill, "export", "--out", str(out))
    assert exported.returncode == 0 and len(out.read_text().splitlines()) == 4
    ids = [r["id"] for r in await c.fetch("SELECT id FROM audit_log ORDER BY id")]
    await c.execute("UPDATE audit_log SET result = 'nothing happened' WHERE id = $1", ids[1])
    changed = await asyncio.to_thread(telebill, "verify")
    assert changed.returncode == 1 and f"breaks at row {ids[1]}" in changed.stdout
    await c.execute("UPDATE audit_log SET result = 'ok' WHERE id = $1", ids[1])
    assert (await asyncio.to_thread(telebill, "verify")).returncode == 0
    await c.execute("DELETE FROM audit_log WHERE id = $1", ids[2])
    removed = await asyncio.to_thread(telebill, "verify")
    assert removed.returncode == 1 and f"breaks at row {ids[3]}" in removed.stdout


async def test_tokens_expire_and_rotation_ends_the_old_token_and_its_sessions(
    databases: Databases, settings: Settings
) -> None:
    stack = await prepare(databases, settings, 2)
    c = stack.conn

    def telebill(*args: str) -> subprocess.CompletedProcess[str]:
        return api_command(stack, "user", *args)

    async with api_server(stack, "tokens") as api:
        old = api.tokens[Role.OPERATOR]
        browser, _ = await signed_in(api, old)
        assert (await browser.get("/api/blackouts")).status_code == 200
        turned = await asyncio.to_thread(telebill, "rotate", "--name", "operator", "--days", "7")
        assert turned.returncode == 0, turned.stderr
        new = turned.stdout.split("(shown once): ")[1].split()[0]
        bearer = {"Authorization": f"Bearer {old}"}
        assert (await browser.get("/api/blackouts", headers=bearer)).status_code == 401
        browser.headers.pop("Authorization", None)
        assert (await browser.get("/api/blackouts")).status_code == 401  # its session ended too
        fresh = {"Authorization": f"Bearer {new}"}
        assert (await browser.get("/api/blackouts", headers=fresh)).status_code == 200
        days = await c.fetchval(
            "SELECT round(extract(epoch FROM expires_at - now()) / 86400) FROM api_user "
            "WHERE name = 'operator'"
        )
        assert days == 7
        await c.execute("UPDATE api_user SET expires_at = now() - interval '1 s'")
        assert (await browser.get("/api/blackouts", headers=fresh)).status_code == 401
        listed = await asyncio.to_thread(telebill, "list")
        assert "token expires" in listed.stdout
        too_long = await asyncio.to_thread(
            telebill, "rotate", "--name", "operator", "--days", "999"
        )
        assert too_long.returncode != 0 and "1–366 days" in too_long.stdout + too_long.stderr
    for client in CLIENTS:
        await client.aclose()
