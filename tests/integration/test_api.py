"""The admin API on a real installation (PostgreSQL, Kafka, Temporal, a `telebill api serve`
process): every endpoint refuses a caller without a token, a viewer cannot change anything,
the service layer's refusals come back as 4xx with the CLI's messages, every change is audited,
the sends are rate-limited, a console session needs its CSRF token, and the log holds no
personal data."""

from __future__ import annotations

import asyncio
import re
from typing import Any

import httpx

from telebill.config import Settings
from telebill.db.settlement_store import load_products, settle_chunk
from telebill.domain.month import parse_month
from telebill.domain.roles import Role
from tests.integration.api_server import api_server
from tests.integration.conftest import Databases
from tests.integration.notify_stack import MONTH, NotifyStack, prepare, running

MEMBERS = 8
SAMPLE = {
    "month_id": MONTH,
    "member_id": "1",
    "bill_id": "1",
    "channel": "email",
    "code": "monthly_bill",
    "reservation_id": "1",
    "name": "night",
}
CHANGES = {"post", "put", "patch", "delete"}


def endpoints(schema: dict[str, Any]) -> list[tuple[str, str]]:
    """(method, concrete path) of every operation in the OpenAPI schema."""
    found = []
    for path, operations in schema["paths"].items():
        concrete = re.sub(r"\{(\w+)\}", lambda m: SAMPLE[m.group(1)], path)
        found += [(method, concrete) for method in operations]
    return found


async def settled(
    databases: Databases, settings: Settings, failing: tuple[int, ...] = ()
) -> NotifyStack:
    stack = await prepare(databases, settings, MEMBERS, failing)
    month = parse_month(MONTH)
    await settle_chunk(stack.conn, month, "s", 1, MEMBERS, await load_products(stack.conn, month))
    return stack


async def until(stack: NotifyStack, sql: str, wanted: int, within: float = 120) -> None:
    deadline = asyncio.get_running_loop().time() + within
    while (got := await stack.conn.fetchval(sql)) != wanted:
        assert asyncio.get_running_loop().time() < deadline, f"{sql}: {got}, not {wanted}"
        await asyncio.sleep(0.3)


async def test_no_token_no_access_and_a_viewer_changes_nothing(
    databases: Databases, settings: Settings
) -> None:
    stack = await settled(databases, settings)
    async with api_server(stack, "access") as api, api.client() as anonymous:
        schema = (await anonymous.get("/openapi.json")).json()
        operations = [(m, p) for m, p in endpoints(schema) if p != "/api/health"]
        assert len(operations) >= 25, operations
        for method, path in operations:
            answer = await anonymous.request(method, path, json={})
            assert answer.status_code == 401, (method, path, answer.text)
        wrong = httpx.AsyncClient(base_url=api.url, headers={"Authorization": "Bearer nope"})
        async with wrong:
            assert (await wrong.get(f"/api/months/{MONTH}/status")).status_code == 401

        changes = [(m, p) for m, p in operations if m in CHANGES and not p.endswith("/preview")]
        async with api.client(Role.VIEWER) as viewer:
            assert (await viewer.get(f"/api/months/{MONTH}/status")).status_code == 200
            for method, path in changes:
                answer = await viewer.request(method, path, json={})
                assert answer.status_code == 403, (method, path, answer.text)
                assert "viewer may not" in answer.json()["detail"]
        async with api.client(Role.OPERATOR) as operator:
            refused = await operator.post(
                "/api/blackouts", json={"name": "x", "start": "01:00", "end": "02:00"}
            )
            assert refused.status_code == 403
    audited = await stack.conn.fetch("SELECT actor, status FROM audit_log")
    assert len(audited) == len(changes) + 1
    assert {(r["actor"], r["status"]) for r in audited} == {("viewer", 403), ("operator", 403)}
    assert await stack.conn.fetchval("SELECT count(*) FROM blackout_window WHERE name = 'x'") == 0


async def test_operator_and_admin_work_through_the_api_and_every_change_is_audited(
    databases: Databases, settings: Settings
) -> None:
    stack = await settled(databases, settings, failing=(5,))
    member5 = await stack.conn.fetchrow("SELECT name, email, phone FROM member WHERE id = 5")
    assert member5 is not None
    async with (
        running(stack),
        api_server(stack, "work") as api,
        api.client(Role.OPERATOR) as op,
        api.client(Role.ADMIN) as admin,
    ):
        # the same messages as the CLI, as 4xx
        bad = await op.post("/api/months/2026-13/send-now", json={})
        assert bad.status_code == 400 and "2026-13" in bad.json()["detail"]
        assert (await op.get("/api/members/999999")).json() == {"detail": "no member 999999"}
        assert (await op.get("/api/members/999999")).status_code == 404
        assert (await op.post("/api/bills/1/resend", json={"channel": 3})).status_code == 422
        huge = await admin.post("/api/templates/sms/monthly_bill", json={"body": "x" * 300_000})
        assert huge.status_code == 413

        sent = await op.post(f"/api/months/{MONTH}/send-now", json={})
        assert sent.status_code == 200, sent.text
        await until(
            stack,
            "SELECT count(*) FROM notification WHERE status IN "
            "('DELIVERED_EMAIL', 'DELIVERED_SMS', 'DEAD_LETTER')",
            MEMBERS,
        )
        status = (await op.get(f"/api/months/{MONTH}/status")).json()
        assert status["postgresql"]["dead_letter"] == 1
        assert status["postgresql"]["delivered_email"] == MEMBERS - 1
        assert status["warnings"] == []  # nothing planned for later: no Schedule needed

        bill = await stack.conn.fetchval("SELECT id FROM bill WHERE member_id = 2")
        resent = await op.post(f"/api/bills/{bill}/resend", json={"channel": "sms"})
        assert resent.json()["purpose"] == "RESEND-1", resent.text
        await until(
            stack,
            f"SELECT count(*) FROM notification WHERE bill_id = {bill} "
            "AND purpose = 'RESEND-1' AND status = 'DELIVERED_SMS'",
            1,
        )
        bills = (await op.get("/api/members/2/bills", params={"before": "2026-12"})).json()["bills"]
        assert {b["purpose"] for b in bills} == {"MONTHLY_BILL", "RESEND-1"}

        # the member corrects the address; the dead letter is replayed and delivered
        await stack.conn.execute("UPDATE member SET email = 'fixed@example.com' WHERE id = 5")
        letters = (await op.get("/api/dead-letters")).json()
        assert [d["bill_id"] for d in letters] == [
            await stack.conn.fetchval("SELECT id FROM bill WHERE member_id = 5")
        ]
        replayed = await op.post("/api/dead-letters/replay", json={"ids": [letters[0]["id"]]})
        assert replayed.json() == {"replayed": [letters[0]["id"]], "skipped": []}
        await until(
            stack,
            "SELECT count(*) FROM notification n JOIN bill b ON b.id = n.bill_id "
            "WHERE b.member_id = 5 AND n.status = 'DELIVERED_EMAIL'",
            1,
        )

        reserved = await op.post(
            "/api/reservations", json={"at": "2027-01-05T10:00", "month": MONTH, "members": [3]}
        )
        assert reserved.status_code == 201, reserved.text
        rid = reserved.json()["id"]
        listed = (await op.get("/api/reservations")).json()
        assert [r["id"] for r in listed] == [rid]
        assert (await op.delete(f"/api/reservations/{rid}")).status_code == 200
        assert (await op.delete(f"/api/reservations/{rid}")).status_code == 404

        invalid = await admin.post(
            "/api/templates/sms/monthly_bill", json={"body": "{{ bill.amount_due | nope }}"}
        )
        assert invalid.status_code == 400 and "nope" in invalid.json()["detail"]
        draft = (
            "[Telebill] {{ member.name }}님 {{ bill.billing_month|month_ko }} "
            "청구 금액 {{ bill.amount_due|won }}"
        )
        preview = await op.post(
            "/api/templates/sms/monthly_bill/preview", json={"body": draft, "bill_id": bill}
        )
        assert preview.status_code == 200, preview.text
        assert preview.json()["kind"] == "SMS" and "님" in preview.json()["body"]
        added = await admin.post("/api/templates/sms/monthly_bill", json={"body": draft})
        assert added.status_code == 201, added.text
        version = added.json()["version"]
        on = await admin.post("/api/templates/sms/monthly_bill/activate", json={"version": version})
        assert on.status_code == 200
        active = (await op.get("/api/templates/sms/monthly_bill")).json()
        assert active["version"] == version and active["body"] == draft

        window = {"name": "lunch", "start": "12:00", "end": "13:00", "days": "sat"}
        assert (await admin.post("/api/blackouts", json=window)).status_code == 201
        names = [b["name"] for b in (await op.get("/api/blackouts")).json()]
        assert "lunch" in names
        assert (await admin.delete("/api/blackouts/lunch")).status_code == 200
        changed = await admin.patch("/api/members/4", json={"preferred_day": 20})
        assert changed.json()["preferred_day"] == 20, changed.text
        refused = await admin.patch("/api/members/4", json={"preferred_day": 40})
        assert refused.status_code == 400 and "1–31" in refused.json()["detail"]
        audit = (await admin.get("/api/audit")).json()
    actions = [(a["actor"], a["action"], a["status"]) for a in reversed(audit)]
    assert actions == [
        ("operator", "send-now", 400),
        ("operator", "send-now", 200),
        ("operator", "resend", 200),
        ("operator", "dlq-replay", 200),
        ("operator", "reserve", 200),
        ("operator", "reservation-cancel", 200),
        ("operator", "reservation-cancel", 404),
        ("admin", "template-add", 400),
        ("admin", "template-add", 200),
        ("admin", "template-activate", 200),
        ("admin", "blackout-add", 200),
        ("admin", "blackout-remove", 200),
        ("admin", "member-update", 200),
        ("admin", "member-update", 400),
    ]
    assert audit[0]["target"] == {"member": 4, "preferred_day": 40}
    log = api.log.read_text()
    assert "POST /api/bills/{bill_id}/resend 200" in log
    for personal in (member5["name"], member5["email"], member5["phone"], "fixed@example.com"):
        assert personal not in log
    for token in api.tokens.values():
        assert token not in log


async def test_sends_are_rate_limited_and_a_console_session_needs_its_csrf_token(
    databases: Databases, settings: Settings
) -> None:
    stack = await settled(databases, settings)
    async with api_server(stack, "limits", {"TELEBILL_API_SEND_RATE": "3/minute"}) as api:
        async with api.client(Role.OPERATOR) as op:
            answers = [
                (await op.post("/api/months/bad/send-now", json={})).status_code for _ in range(4)
            ]
            assert answers == [400, 400, 400, 429]
            assert (await op.get(f"/api/months/{MONTH}/status")).status_code == 200  # reads go on
        async with api.client(Role.ADMIN) as admin:  # the limit is per user
            assert (await admin.post("/api/months/bad/send-now", json={})).status_code == 400

        async with httpx.AsyncClient(base_url=api.url) as browser:
            wrong = await browser.post("/console/login", data={"token": "nope"})
            assert wrong.status_code == 401
            signed = await browser.post("/console/login", data={"token": api.tokens[Role.ADMIN]})
            assert signed.status_code == 303
            cookie = signed.cookies["telebill_session"]
            assert "httponly" in signed.headers["set-cookie"].lower()
            assert "samesite=strict" in signed.headers["set-cookie"].lower()
            page = await browser.get("/console/blackouts")
            assert page.status_code == 200 and "금지 시간대" in page.text
            csrf = re.search(r'name="csrf-token" content="(\w+)"', page.text)
            assert csrf is not None
            window = {"name": "night2", "start": "02:00", "end": "03:00"}
            forged = await browser.post("/api/blackouts", json=window)
            assert forged.status_code == 403 and "CSRF" in forged.json()["detail"]
            made = await browser.post(
                "/api/blackouts", json=window, headers={"X-CSRF-Token": csrf.group(1)}
            )
            assert made.status_code == 201, made.text
            assert cookie not in api.log.read_text()
            assert page.headers["x-frame-options"] == "DENY"
            assert "default-src 'self'" in page.headers["content-security-policy"]
