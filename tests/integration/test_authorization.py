"""The authorization matrix, written down here as the specification and checked against the
running API: every route of the OpenAPI schema has an entry (a new route without one fails
this), each role below a route's is refused with 403 and changes nothing, and each role at or
above it gets past the check on the reading routes."""

from __future__ import annotations

import re

from telebill.config import Settings
from telebill.domain.roles import Role
from tests.integration.api_server import api_server
from tests.integration.conftest import Databases
from tests.integration.notify_stack import MONTH, prepare

V, OP, A = Role.VIEWER, Role.OPERATOR, Role.ADMIN
NEEDS: dict[tuple[str, str], Role | None] = {
    ("GET", "/api/health"): None,
    ("GET", "/api/months/{month_id}/status"): V,
    ("GET", "/api/months/{month_id}/stuck"): V,
    ("GET", "/api/months/{month_id}/settlement"): V,
    ("POST", "/api/months/{month_id}/send-now"): OP,
    ("POST", "/api/months/{month_id}/dispatch"): OP,
    ("POST", "/api/months/{month_id}/settlement"): A,
    ("POST", "/api/months/{month_id}/replan"): A,
    ("GET", "/api/members/{member_id}"): V,
    ("GET", "/api/members/{member_id}/bills"): V,
    ("GET", "/api/members/{member_id}/plan"): V,
    ("PATCH", "/api/members/{member_id}"): A,
    ("PUT", "/api/members/{member_id}/micro-limit"): A,
    ("POST", "/api/bills/{bill_id}/resend"): OP,
    ("GET", "/api/reservations"): V,
    ("POST", "/api/reservations"): OP,
    ("DELETE", "/api/reservations/{reservation_id}"): OP,
    ("GET", "/api/dead-letters"): V,
    ("POST", "/api/dead-letters/replay"): OP,
    ("GET", "/api/templates"): V,
    ("GET", "/api/templates/{channel}/{code}"): V,
    ("POST", "/api/templates/{channel}/{code}/preview"): V,
    ("POST", "/api/templates/{channel}/{code}"): A,
    ("POST", "/api/templates/{channel}/{code}/activate"): A,
    ("GET", "/api/blackouts"): V,
    ("POST", "/api/blackouts"): A,
    ("DELETE", "/api/blackouts/{name}"): A,
    ("GET", "/api/audit"): A,
}
SAMPLE = {
    "month_id": MONTH,
    "member_id": "1",
    "bill_id": "1",
    "reservation_id": "1",
    "channel": "sms",
    "code": "monthly_bill",
    "name": "night",
}
QUERY = {"/api/members/{member_id}/plan": f"?month_id={MONTH}"}
RANK = {V: 0, OP: 1, A: 2}


async def test_every_route_refuses_every_role_below_its_own_and_changes_nothing(
    databases: Databases, settings: Settings
) -> None:
    stack = await prepare(databases, settings, 2)
    c = stack.conn
    before = await c.fetchval(
        "SELECT md5(string_agg(t::text, ',')) FROM (SELECT * FROM member ORDER BY id) t"
    )
    async with api_server(stack, "authz") as api:
        async with api.client() as anonymous:
            schema = (await anonymous.get("/openapi.json")).json()
        routes = {(m.upper(), p) for p, ops in schema["paths"].items() for m in ops}
        assert routes == set(NEEDS), routes ^ set(NEEDS)
        for role in (V, OP, A):
            async with api.client(role) as client:
                for (method, path), needed in sorted(NEEDS.items(), key=str):
                    if needed is None:
                        continue
                    url = re.sub(r"\{(\w+)\}", lambda m: SAMPLE[m.group(1)], path)
                    url += QUERY.get(path, "")
                    if RANK[role] < RANK[needed]:
                        answer = await client.request(method, url, json={})
                        assert answer.status_code == 403, (role, method, path, answer.text)
                    elif method == "GET":
                        answer = await client.request(method, url)
                        assert answer.status_code not in (401, 403), (role, method, path)
    after = await c.fetchval(
        "SELECT md5(string_agg(t::text, ',')) FROM (SELECT * FROM member ORDER BY id) t"
    )
    assert after == before
    assert await c.fetchval("SELECT count(*) FROM blackout_window WHERE name = 'night'") == 0
    assert await c.fetchval("SELECT count(*) FROM reserved_send") == 0
    refused = await c.fetchval("SELECT count(*) FROM audit_log WHERE status = 403")
    changes = [k for k, v in NEEDS.items() if k[0] != "GET" and v is not None]
    expected = sum(1 for role in (V, OP) for k in changes if RANK[role] < RANK[NEEDS[k] or V])
    assert refused == expected
