"""Bills over the channels each member chose, through the real consumers on Kafka and
PostgreSQL: AlimTalk, push, e-mail, and a channel defined here in the test (no consumer code
knows it); a member who is not a KakaoTalk user or has no app moves to the next channel at once,
without retries; a temporary AlimTalk failure is retried with backoff; a bill that fails on three
channels ends in the DLQ with every attempt in its history."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Iterator

import pytest

from telebill.channels import register, unregister
from telebill.channels.base import Channel, RenderedMessage, TemplateSource
from telebill.channels.kakao_simulated import is_user
from telebill.config import Settings
from telebill.domain.chain import chain_channels, parse_chains
from telebill.domain.month import parse_month
from telebill.messaging.events import NotificationEvent
from telebill.month_report import charts
from telebill.month_report.queries import channel_order, read_delivery
from telebill.rendering.context import BillContext
from telebill.rendering.render import compile_template, render
from telebill.stack.kafka_topics import ensure_topics
from telebill.templates.store import add_template
from tests.integration.conftest import Databases
from tests.integration.delivery_platform import platform_of
from workers.dead_letter_consumer import DeadLetterConsumer
from workers.delivery_consumer import ChannelConsumer

CHAINS = "alimtalk>email>sms;push>email>sms;fax>sms"
PHONES = [f"010-9{n // 10_000:03d}-{n % 10_000:04d}" for n in range(1, 400)]


class FaxChannel(Channel):
    """A channel only this test knows."""

    name = "fax"
    has_subject = False
    address_field = "phone"

    def default_template(self, code: str = "monthly_bill") -> TemplateSource:
        return TemplateSource(self.name, code, 0, None, "FAX {{ bill.amount_due|won }}")

    def render(self, template: TemplateSource, context: BillContext) -> RenderedMessage:
        text = render(
            compile_template(template.body, "fax", plain=True), context.for_template(), what="fax"
        )
        return RenderedMessage(
            self.name, template.code, template.version, "FAX", None, text, text, len(text)
        )


@pytest.fixture
def fax() -> Iterator[None]:
    register(FaxChannel())
    yield
    unregister("fax")  # the other tests know only the shipped channels


@pytest.mark.usefixtures("fax")
async def test_each_member_gets_the_bill_on_the_chain_of_their_channel(
    databases: Databases, settings: Settings
) -> None:
    async with platform_of(databases, settings, 12) as platform:
        conn = platform.conn
        users = [p for p in PHONES if is_user(p, 0.05)]
        strangers = [p for p in PHONES if not is_user(p, 0.05)]
        chosen = {  # member → (bill channel, phone, push token)
            3: ("alimtalk", users[0], None),
            4: ("alimtalk", strangers[0], None),  # not a KakaoTalk user
            5: ("push", users[1], "fcm-5"),
            6: ("push", users[2], None),  # chose the app, then removed it
            7: ("fax", users[3], None),
            8: ("alimtalk", users[4], None),  # failing everywhere (fail_addresses below)
            9: ("email", users[5], None),
        }
        for member, (ch, phone, token) in chosen.items():
            await conn.execute(
                "UPDATE member SET bill_channel = $2, phone = $3, push_token = $4 WHERE id = $1",
                member,
                ch,
                phone,
                token,
            )
        await add_template(conn, "fax", "monthly_bill", None, "FAX {{ bill.amount_due|won }}")
        email8 = await conn.fetchval("SELECT email FROM member WHERE id = 8")
        s = platform.settings.model_copy(
            update={
                "channel_chains": CHAINS,
                "fail_addresses": f"{users[4]},{email8}",
                "alimtalk_non_user_rate": 0.05,
                "channel_latency_s": {"alimtalk": 0.02, "push": 0.01, "fax": 0.01},
                "channel_failure_rate": {"alimtalk": 0.0, "push": 0.0, "fax": 0.0},
            }
        )
        await ensure_topics(s.kafka_servers, 3, s.topic_prefix, channels=chain_channels(CHAINS))
        chains = parse_chains(CHAINS)
        bills = {
            r["member_id"]: r["id"]
            for r in await conn.fetch(
                "SELECT id, member_id FROM bill WHERE member_id BETWEEN 3 AND 9"
            )
        }
        firsts = []
        for member, (ch, _, _) in chosen.items():
            chain = chains.get(ch, chains["email"])
            firsts.append(
                NotificationEvent(
                    event_id=uuid.uuid4(),
                    bill_id=bills[member],
                    member_id=member,
                    billing_month="2026-11",
                    channel=chain.first,
                    chain=chain.channels,
                )
            )
        for e in firsts:
            await platform.publish_to(platform.topics.channel(e.channel), e)

        stop = asyncio.Event()
        pool = platform.pool
        tasks = [
            asyncio.create_task(ChannelConsumer(ch, s, pool).run(stop))
            for ch in chain_channels(CHAINS)
        ] + [asyncio.create_task(DeadLetterConsumer(s, pool).run(stop))]
        try:
            deadline = asyncio.get_running_loop().time() + 120
            while await conn.fetchval(
                "SELECT count(*) FROM notification n JOIN bill b ON b.id = n.bill_id "
                "WHERE b.member_id BETWEEN 3 AND 9 AND n.status <> 'PENDING'"
            ) < len(chosen):
                assert asyncio.get_running_loop().time() < deadline, "the chains did not finish"
                for t in tasks:
                    if t.done():
                        t.result()
                await asyncio.sleep(0.2)
        finally:
            stop.set()
            await asyncio.gather(*tasks)

        status = {
            r["member_id"]: r["status"]
            for r in await conn.fetch(
                "SELECT b.member_id, n.status FROM notification n JOIN bill b ON b.id = n.bill_id "
                "WHERE b.member_id BETWEEN 3 AND 9"
            )
        }
        assert status == {
            3: "DELIVERED_ALIMTALK",
            4: "DELIVERED_EMAIL",
            5: "DELIVERED_PUSH",
            6: "DELIVERED_EMAIL",
            7: "DELIVERED_FAX",
            8: "DEAD_LETTER",
            9: "DELIVERED_EMAIL",
        }

        async def tried(member: int) -> list[tuple[str, int, str]]:
            rows = await conn.fetch(
                "SELECT a.channel, a.attempt, a.outcome FROM delivery_attempt a "
                "JOIN notification n ON n.id = a.notification_id JOIN bill b ON b.id = n.bill_id "
                "WHERE b.member_id = $1 ORDER BY a.id",
                member,
            )
            return [(r["channel"], r["attempt"], r["outcome"]) for r in rows]

        # not a user, no app: one attempt each, then the next channel at once
        assert await tried(4) == [("alimtalk", 1, "FAILED"), ("email", 1, "SENT")]
        assert await tried(6) == [("push", 1, "FAILED"), ("email", 1, "SENT")]
        assert await tried(7) == [("fax", 1, "SENT")]
        # failing for a while: every retry of each channel, then the next, then the DLQ
        eight = await tried(8)
        assert [(c, a) for c, a, _ in eight] == [
            (c, a) for c in ("alimtalk", "email", "sms") for a in range(1, 5)
        ]
        history = await conn.fetchval(
            "SELECT event->'history' FROM dead_letter WHERE bill_id = $1", bills[8]
        )
        assert history is not None
        notes = json.loads(history)
        assert [n["channel"] for n in notes] == ["alimtalk"] * 4 + ["email"] * 4 + ["sms"] * 4
        kakao = await conn.fetchval(
            "SELECT error FROM delivery_attempt a JOIN notification n ON n.id = a.notification_id "
            "WHERE n.bill_id = $1 AND a.channel = 'alimtalk'",
            bills[4],
        )
        assert "3018" in kakao

        # the month report counts each channel, and draws it in the funnel
        delivery = await read_delivery(conn, parse_month("2026-11"))
        # the month report counts each channel by first choices and fallbacks (members 4 and 6
        # reached by e-mail after their first channel failed), and draws every channel
        f = delivery.funnel
        assert {c.channel: (c.chosen, c.fallback) for c in f.channels} == {
            "email": (1, 2),
            "alimtalk": (1, 0),
            "fax": (1, 0),
            "push": (1, 0),
        }
        assert (f.email_first_try, f.email_after_retries) == (1, 0)
        drawn = charts.funnel(delivery.funnel)
        for bar in (
            "알림톡 AlimTalk 선택 chosen",
            "앱 푸시 app push 선택 chosen",
            "fax 선택 chosen",
        ):
            assert bar in drawn
        assert "이메일 e-mail 대체 발송 fallback" in drawn
        over_time = charts.deliveries_over_time(
            delivery.per_bin, delivery.bin_minutes, delivery.labels, channel_order
        )
        for name in ("이메일 e-mail", "알림톡 AlimTalk", "앱 푸시 app push", "fax"):
            assert name in over_time
