"""The e-mail → SMS → DLQ chain with the SMTP provider (TELEBILL_EMAIL_PROVIDER=smtp): the real
consumers on Kafka and PostgreSQL send into an SMTP server in-process (aiosmtpd) scripted to
refuse some members; each refusal takes its path through the chain (4xx and dropped
connections: retried, then SMS; 5xx: SMS at once; SMS failing too: the dead letter), and
every bill the relay took, it took once, under the Message-ID of its delivery key."""

from __future__ import annotations

from telebill.channels.smtp_message import message_id
from tests.integration.delivery_platform import MEMBERS, Platform, event
from tests.integration.smtp_relay import DROP, DROP_AT_DATA, ScriptedRelay, relay_running


async def test_each_reply_takes_its_path_and_nothing_is_sent_twice(platform: Platform) -> None:
    c = platform.conn
    bills = {r["member_id"]: r["id"] for r in await c.fetch("SELECT id, member_id FROM bill")}
    emails = {r["id"]: r["email"] for r in await c.fetch("SELECT id, email FROM member")}
    relay = ScriptedRelay()
    # member 1's phone fails too (the platform's simulated SMS provider): the dead letter
    relay.script(emails[1], "550 5.1.1 user unknown")
    relay.script(emails[2], "421 4.3.2 closing")  # every retry too: SMS after the last
    relay.script(emails[3], "451 4.7.1 greylisted, come back later", "250 OK")
    relay.script(emails[4], DROP, "250 OK")
    relay.script(emails[5], DROP_AT_DATA, "250 OK")
    relay.script(emails[6], "552 5.2.2 mailbox full")  # SMS at once
    by_email = {3, 4, 5, *range(7, MEMBERS + 1)}
    events = [event(bill, member) for member, bill in bills.items()]
    duplicate = event(bills[7], 7)  # the same bill published again (another event id)

    async def finished() -> bool:
        settled = await c.fetchval("SELECT count(*) FROM notification WHERE status <> 'PENDING'")
        letters = await c.fetchval("SELECT count(*) FROM dead_letter")
        return bool(settled == MEMBERS and letters == 1)

    async with relay_running(relay) as port:
        platform.settings = platform.settings.model_copy(
            update={"email_provider": "smtp", "smtp_port": port, "smtp_timeout_s": 5.0}
        )
        await platform.publish(*(e.to_bytes() for e in events), duplicate.to_bytes())
        await platform.run_until(finished)

    status = {r[0]: r[1] for r in await c.fetch("SELECT bill_id, status FROM notification")}
    assert status[bills[1]] == "DEAD_LETTER"
    assert status[bills[2]] == status[bills[6]] == "DELIVERED_SMS"
    assert {m for m, b in bills.items() if status[b] == "DELIVERED_EMAIL"} == by_email

    async def attempts(member: int) -> list[tuple[str, int, str]]:
        rows = await c.fetch(
            "SELECT d.channel, d.attempt, d.outcome FROM delivery_attempt d "
            "JOIN notification n ON n.id = d.notification_id WHERE n.bill_id = $1 ORDER BY d.id",
            bills[member],
        )
        return [(r[0], r[1], r[2]) for r in rows]

    failed_sms = [("sms", n, "FAILED") for n in range(1, 5)]
    assert await attempts(1) == [("email", 1, "FAILED"), *failed_sms]  # 550: no e-mail retry
    assert await attempts(2) == [
        *(("email", n, "FAILED") for n in range(1, 5)),
        ("sms", 1, "SENT"),
    ]
    for member in (3, 4, 5):
        assert await attempts(member) == [("email", 1, "FAILED"), ("email", 2, "SENT")]
    assert await attempts(6) == [("email", 1, "FAILED"), ("sms", 1, "SENT")]
    assert await attempts(7) == [("email", 1, "SENT")]  # published twice, sent once

    rows = await c.fetch(
        "SELECT n.bill_id, d.error FROM delivery_attempt d "
        "JOIN notification n ON n.id = d.notification_id "
        "WHERE d.channel = 'email' AND d.attempt = 1 AND d.error IS NOT NULL"
    )
    errors: dict[int, str] = {r[0]: r[1] for r in rows}
    assert errors[bills[1]] == "SMTP 550 at RCPT TO: 5.1.1 user unknown"
    assert errors[bills[3]].startswith("SMTP 451 at RCPT TO")
    assert "connection lost at RCPT TO" in errors[bills[4]]
    assert "connection lost at DATA" in errors[bills[5]]
    assert all("@" not in e for e in errors.values())

    # the relay took each e-mailed bill once, under the Message-ID of its delivery key, and
    # nothing of the bills that went to SMS or the dead letters
    taken = relay.accepted_ids()
    assert set(taken.values()) == {1}
    domain = platform.settings.email_from.rpartition("@")[2]
    expected = {message_id(f"{bills[m]}:MONTHLY_BILL", domain) for m in by_email}
    assert set(taken) == expected
    assert {str(m["To"]) for m in relay.accepted} == {emails[m] for m in by_email}
    assert all("청구서" in str(m["Subject"]) for m in relay.accepted)
    kept = await c.fetchval("SELECT count(*) FROM provider_message WHERE channel = 'email'")
    assert kept == len(by_email)
