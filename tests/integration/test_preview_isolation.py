"""A viewer's preview cannot stall or kill the API: drafts built to take all the time and all
the memory they can come back as 4xx within the preview's limit, while the API goes on
answering everyone else; an admin's `templates add` of such a draft is refused the same way."""

from __future__ import annotations

import asyncio

import httpx

from telebill.config import Settings
from telebill.domain.roles import Role
from tests.integration.api_server import api_server
from tests.integration.conftest import Databases
from tests.integration.notify_stack import MONTH, prepare

PREVIEW = "/api/templates/sms/monthly_bill/preview"
BOMBS = [
    "{% for i in range(20) %}{{ ('x' * 10000).join('y' * 10000)|length }}{% endfor %}",
    "{{ ('\t' * 400000).expandtabs(100000) }}",
    "{% for i in range(400) %}{% for j in range(500) %}{% endfor %}{% endfor %}",
    "".join(
        f"{{% set v{i} = ('\U0001f4e7' * 499990) ~ '{i}' %}}{{{{ v{i}|length }}}}"
        for i in range(20)
    ),
    "{{ 'a'.ljust(400000) ~ 'b'.rjust(400000) ~ 'c'.rjust(400000) }}",
    "{{ items[0].nope.nope }}",
]


async def test_hostile_previews_are_refused_while_the_api_answers_everyone_else(
    databases: Databases, settings: Settings
) -> None:
    stack = await prepare(databases, settings, 4)
    env = {
        "TELEBILL_PREVIEW_PROCESSES": "1",
        "TELEBILL_PREVIEW_TIMEOUT_S": "2",
        "TELEBILL_PREVIEW_MEMORY_MB": "32",
    }
    async with (
        api_server(stack, "preview", env) as api,
        api.client(Role.VIEWER) as viewer,
        api.client(Role.ADMIN) as admin,
    ):
        ok = await viewer.post(PREVIEW, json={"body": "{{ member.name }}님"})
        assert ok.status_code == 200 and ok.json()["body"].endswith("님"), ok.text

        async def bomb(body: str) -> httpx.Response:
            return await viewer.post(PREVIEW, json={"body": body}, timeout=60)

        bombs = [asyncio.create_task(bomb(b)) for b in BOMBS]
        answered_meanwhile = 0
        while not all(b.done() for b in bombs):
            status = await viewer.get(f"/api/months/{MONTH}/status", timeout=60)
            assert status.status_code == 200, status.text
            answered_meanwhile += 1
        answers = [b.result() for b in bombs]
        for body, answer in zip(BOMBS, answers, strict=True):
            # 400: refused with its reason; 429: every renderer was busy, try again
            assert answer.status_code in (400, 429), (body[:60], answer.text)
        assert answered_meanwhile >= 1
        assert any(a.status_code == 400 for a in answers)

        refused = await admin.post("/api/templates/sms/monthly_bill", json={"body": BOMBS[0]})
        assert refused.status_code == 400 and "over the limit" in refused.json()["detail"]
        after = await viewer.post(PREVIEW, json={"body": "{{ bill.amount_due|won }}"})
        assert after.status_code == 200, after.text
    assert api.process.returncode == 0, api.log.read_text()[-2000:]
