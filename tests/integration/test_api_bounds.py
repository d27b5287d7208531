"""Bounded everything at the API's door: parameters out of range are 4xx with a reason, never a
500; a streamed body over the limit is a 413 like an announced one; nothing with personal data
or a CSRF token may be cached."""

from __future__ import annotations

from collections.abc import AsyncIterator

from telebill.config import Settings
from telebill.domain.roles import Role
from tests.integration.api_server import api_server
from tests.integration.conftest import Databases
from tests.integration.notify_stack import MONTH, prepare


async def test_out_of_range_parameters_are_refused_and_nothing_is_cached(
    databases: Databases, settings: Settings
) -> None:
    stack = await prepare(databases, settings, 3)
    async with (
        api_server(stack, "bounds") as api,
        api.client(Role.ADMIN) as admin,
    ):
        month = await admin.get("/api/months/9999-12/status")
        assert month.status_code == 400 and "2199-12" in month.json()["detail"]
        for path in (
            "/api/members/99999999999999999999",
            "/api/members/0",
            "/api/members/-5/bills",
        ):
            assert (await admin.get(path)).status_code == 422, path
        too_far = await admin.post("/api/dead-letters/replay", json={"ids": [2**63]})
        assert too_far.status_code == 422
        version = await admin.post(
            "/api/templates/sms/monthly_bill/activate", json={"version": 2**40}
        )
        assert version.status_code == 422
        lookup = await admin.post(
            "/api/templates/sms/monthly_bill/preview", json={"body": "{{ items[99].label }}"}
        )
        assert lookup.status_code == 400 and "no element 99" in lookup.json()["detail"]
        # found by tests/integration/test_api_fuzz.py: these three were 500s
        beyond = await admin.get("/api/templates/sms/monthly_bill", params={"version": 2**40})
        assert beyond.status_code == 422
        shards = await admin.post(f"/api/months/{MONTH}/settlement", json={"shard_size": 2**70})
        assert shards.status_code == 422  # was accepted (202) and started a settlement
        nul_query = await admin.get("/api/templates", params={"channel": "sms\x00"})
        assert nul_query.status_code == 400 and "NUL" in nul_query.json()["detail"]
        nul_body = await admin.post(
            "/api/blackouts", json={"name": "a\x00b", "start": "01:00", "end": "02:00"}
        )
        assert nul_body.status_code == 422 and nul_body.json()["detail"][0]["loc"] == [
            "body",
            "name",
        ]
        async with api.client(Role.VIEWER) as viewer:
            # a malformed body is not read before the caller is checked: 403, not 422
            garbled = await viewer.post(
                "/api/blackouts", content=b"{", headers={"content-type": "application/json"}
            )
            assert garbled.status_code == 403

        async def chunks() -> AsyncIterator[bytes]:
            for _ in range(40):  # 40 × 10 KB: past the 256 KiB limit, with no Content-Length
                yield b'{"body": "' + b"x" * 10_000

        streamed = await admin.post("/api/templates/sms/monthly_bill", content=chunks())
        assert streamed.status_code == 413, streamed.text

        stuck = await admin.get(f"/api/months/{MONTH}/stuck", params={"limit": 500})
        assert stuck.status_code == 200 and stuck.json() == [] and "link" not in stuck.headers
        too_many = await admin.get(f"/api/months/{MONTH}/stuck", params={"limit": 501})
        assert too_many.status_code == 422
        forged = await admin.get(f"/api/months/{MONTH}/stuck", params={"page": "%%%"})
        assert forged.status_code == 400 and "not a page" in forged.json()["detail"]
        made_up = await admin.get(f"/api/months/{MONTH}/stuck", params={"page": "AAAA"})
        assert made_up.status_code == 400, made_up.text  # base64, but not Temporal's
        member = await admin.get("/api/members/1")
        assert member.headers["cache-control"] == "no-store"
        login = await admin.get("/console/login")
        assert login.headers["cache-control"] == "no-store"
        static = await admin.get("/console/static/console.css")
        assert static.status_code == 200 and "no-store" not in static.headers.get(
            "cache-control", ""
        )
    assert api.process.returncode == 0
    assert "unexpected error" not in api.log.read_text()


async def test_dead_letters_come_in_pages_of_at_most_500_read_by_keyset(
    databases: Databases, settings: Settings
) -> None:
    stack = await prepare(databases, settings, 2)
    await stack.conn.execute(
        "INSERT INTO dead_letter (letter_key, reason, event) "
        "SELECT 'k' || i, 'r' || i, '{}' FROM generate_series(1, 1234) AS i"
    )
    async with api_server(stack, "pages") as api, api.client(Role.VIEWER) as viewer:
        assert (await viewer.get("/api/dead-letters?limit=501")).status_code == 422
        seen: list[int] = []
        after = 0
        while page := (await viewer.get(f"/api/dead-letters?limit=500&after={after}")).json():
            assert len(page) <= 500
            seen += [d["id"] for d in page]
            after = page[-1]["id"]
        assert len(seen) == 1234 and seen == sorted(set(seen))
        first = await viewer.get("/console/dead-letters")
        assert first.text.count("<tr>") == 101  # the heading and a page of 100
        assert f"/console/dead-letters?after={seen[99]}" in first.text
