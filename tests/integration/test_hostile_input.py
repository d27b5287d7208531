"""The hostile-input drill: a consumer group of two `telebill consume email` processes, with
the SMS, AlimTalk, push and DLQ consumers beside them, while bad messages of every kind are
published between good events on the same partitions: the known mistakes, what the generators
write, and the classes that once killed a consumer (a 5,000-digit number, nesting 100,000 deep,
a field of 400 KB, NaN, a lone surrogate, a multi-line error in the history), each on every
channel's main topic and first retry tier and on the DLQ. Afterwards every good event was
delivered exactly once, every bad one dead-lettered once with its reason, no process exited,
and no group lags."""

from __future__ import annotations

import asyncio
import json
import signal
import warnings
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from aiokafka import AIOKafkaProducer
from hypothesis.errors import NonInteractiveExampleWarning

from telebill.domain.redact import redact
from telebill.messaging.dead_letter import MAX_REASON_CHARS
from telebill.messaging.events import MalformedEvent, NotificationEvent
from telebill.stack.kafka_topics import ensure_topics
from tests.integration.consumer_processes import Output, caught_up, members_in_group, spawn
from tests.integration.delivery_platform import Platform, event
from tests.strategies import near_events

MONTHLY = "MONTHLY_BILL"


@dataclass
class Bad:
    reason: str  # what its dead letter must say
    source: str = ""  # topic/partition/offset once published


def raw_event(bill: int, member: int, **fields: object) -> bytes:
    return json.dumps({**event(bill, member).model_dump(mode="json"), **fields}).encode()


CHANNELS = ("email", "sms", "alimtalk", "push")
CHAINS = "alimtalk>email>sms;push>email>sms;email>sms;sms"


def with_field(channel: str, field: str, text: bytes) -> bytes:
    """An event of `channel` (on its own chain) with one field written as raw JSON text."""
    e = json.loads(raw_event(900_001, 1, channel=channel, chain=CHAINS_OF[channel]))
    e.pop(field, None)
    return json.dumps(e).encode()[:-1] + b', "' + field.encode() + b'": ' + text + b"}"


CHAINS_OF = {
    "email": ["email", "sms"],
    "sms": ["sms"],
    "alimtalk": ["alimtalk", "email", "sms"],
    "push": ["push", "email", "sms"],
}


def killers(channel: str) -> list[bytes]:
    """The classes that once stopped a consumer (issue 30), as events of `channel`."""
    note = b'[{"channel": "email", "attempt": 1, "error": "line one\\nline two", '
    return [
        with_field(channel, "bill_id", b"7" * 5_000),
        b'{"schema_version": 1, "history": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",
        with_field(channel, "billing_month", b'"' + b"x" * 400_000 + b'"'),
        with_field(channel, "attempt", b"NaN"),
        with_field(channel, "bill_id", b"1e999"),
        with_field(channel, "purpose", b'"\\ud800"'),
        with_field(channel, "purpose", b'"\xed\xa0\x80"'),  # a surrogate in CESU-8 bytes
        with_field(channel, "history", note + b'"at": "2026-12-01T00:00:00Z"}]'),
        with_field(channel, "schema_version", b'"' + b"v" * 100_000 + b'"'),
    ]


async def test_bad_input_of_every_kind_harms_only_itself(platform: Platform) -> None:
    c, topics = platform.conn, platform.topics
    bills = {r["member_id"]: r["id"] for r in await c.fetch("SELECT id, member_id FROM bill")}
    # A template version that fails on one bill only (bills of one item have no items[1]); it
    # is written directly, as if it had got past `templates add`.
    render_fails = bills[5]
    await c.execute("DELETE FROM bill_item WHERE bill_id = $1 AND line_no > 1", render_fails)
    body = (await c.fetchval("SELECT body FROM message_template WHERE channel = 'email'")).replace(
        "{% block html %}", "{% block html %}{{ items[1].label }}", 1
    )
    await c.execute(
        "INSERT INTO message_template (channel, code, version, subject, body, active) "
        "SELECT channel, code, 2, subject, $1, false FROM message_template WHERE channel = 'email'",
        body,
    )
    await c.execute("UPDATE message_template SET active = (version = 2) WHERE channel = 'email'")
    await c.execute("DELETE FROM message_template WHERE channel = 'sms'")  # no SMS template
    now = datetime.now(UTC)
    main, tier1, sms = topics.channel("email"), topics.retry("email", 1), topics.channel("sms")

    good: list[tuple[str, bytes]] = []
    for member, bill in bills.items():
        if member not in (5, 8, 9, 10):
            good.append((main, event(bill, member).to_bytes()))
    good.append((main, event(bills[3], 3).to_bytes()))  # a repeat: still sent once
    held = event(bills[10], 10).model_copy(
        update={"attempt": 2, "not_before": now + timedelta(seconds=2)}
    )
    bad: list[tuple[str, bytes, Bad]] = [
        (main, b"", Bad("empty message")),
        (main, b"\x00\xff\xfe binary \x00", Bad("not JSON")),
        (main, b"x" * 900_000, Bad("900,000 bytes, more than the 262,144 allowed")),
        (main, b"[1, 2, 3]", Bad("not a JSON object")),
        (main, raw_event(1, 1, schema_version=2), Bad("unsupported schema_version 2")),
        (main, raw_event(1, 1, bill_id=2**63), Bad("invalid field bill_id")),
        (main, raw_event(1, 1, bill_id=2**64 + 7), Bad("invalid field bill_id")),
        (main, raw_event(1, 1, attempt=99), Bad("invalid field attempt")),
        (main, raw_event(1, 1, purpose="MONTHLY_BILL\x00\n"), Bad("invalid field purpose")),
        (main, event(999_999, 1).to_bytes(), Bad("unknown bill 999999")),
        (main, event(bills[5], 5).to_bytes(), Bad("email message could not be rendered")),
        (
            main,
            event(bills[6], 6).model_copy(update={"not_before": now}).to_bytes(),
            Bad("not_before on a main topic"),
        ),
        (
            tier1,
            event(bills[7], 7)
            .model_copy(update={"attempt": 2, "not_before": now + timedelta(days=400)})
            .to_bytes(),
            Bad("longest retry delay"),
        ),
        (
            sms,
            event(bills[8], 8).model_copy(update={"channel": "sms"}).to_bytes(),
            Bad("no active sms template"),
        ),
        (
            sms,
            event(bills[9], 9).model_copy(update={"channel": "sms"}).to_bytes(),
            Bad("no active sms template"),
        ),
    ]
    missing = json.loads(raw_event(1, 1))
    del missing["bill_id"]
    bad.append((main, json.dumps(missing).encode(), Bad("invalid field bill_id")))
    await ensure_topics(platform.settings.kafka_servers, 3, topics.prefix, channels=CHANNELS)
    for name in CHANNELS:
        for topic in (topics.channel(name), topics.retry(name, 1)):
            for raw in killers(name):
                try:
                    NotificationEvent.received(raw, "retry" in topic, now, timedelta(hours=2))
                except MalformedEvent as exc:
                    bad.append((topic, raw, Bad(redact(str(exc), MAX_REASON_CHARS))))
                else:
                    raise AssertionError(f"a killer read as an event: {raw[:80]!r}")
    # Hypothesis: events with one field wrong (or noise), for bills that do not exist unless
    # the wrong field is the bill: each is delivered (a real bill) or dead with its reason.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NonInteractiveExampleWarning)
        generated = [near_events(900_000 + i).example() for i in range(40)]
    for raw in generated:
        try:
            e = NotificationEvent.received(raw, False, now, timedelta(hours=2))
        except MalformedEvent as exc:
            bad.append((main, raw, Bad(redact(str(exc), MAX_REASON_CHARS))))  # as letters are
            continue
        if e.bill_id in bills.values():
            good.append((main, raw))
        else:
            bad.append((main, raw, Bad(f"unknown bill {e.bill_id}")))
    foreign = [
        (b"\x00\x01 not ours \xff", "unreadable dead letter"),
        (b"[1, 2]", "unreadable dead letter (not a JSON object)"),
        (json.dumps({"event": {"bill_id": 2**64}}).encode(), "dead letter without a reason"),
        (
            json.dumps(
                {"reason": "theirs\u0000", "event": {"bill_id": 999_998, "purpose": MONTHLY}}
            ).encode(),
            "theirs",
        ),
        (b"[" * 100_000, "unreadable dead letter (not JSON: nested deeper than 64 levels)"),
        (b'{"reason": "r", "n": ' + b"9" * 5_000 + b"}", "a number of 5,000 characters"),
        (b'{"reason": "' + b"r" * 400_000 + b'"}', "bytes, more than the 327,680 allowed"),
        (b'{"reason": "\\ud800 lone", "event": {"bill_id": NaN}}', " lone"),
        (b'{"reason": "multi\\nline\\ttabs"}', "multi line tabs"),
    ]

    procs = [
        spawn(platform, "email", TELEBILL_CHANNEL_CHAINS=CHAINS),
        spawn(platform, "email", TELEBILL_CHANNEL_CHAINS=CHAINS),
        spawn(platform, "sms", TELEBILL_CHANNEL_CHAINS=CHAINS),
        spawn(platform, "alimtalk", TELEBILL_CHANNEL_CHAINS=CHAINS),
        spawn(platform, "push", TELEBILL_CHANNEL_CHAINS=CHAINS),
        spawn(platform, "dlq", TELEBILL_CHANNEL_CHAINS=CHAINS),
    ]
    outs = [Output(p) for p in procs]
    try:
        await members_in_group(platform, "email", 2)
        producer = AIOKafkaProducer(bootstrap_servers=platform.settings.kafka_servers)
        await producer.start()
        try:
            # bad between good, on three partitions of each topic (keys 0, 1, 2 cycle)
            queue: list[tuple[str, bytes, Bad | None]] = []
            goods = list(good)
            for topic, raw, bad_one in bad:
                if goods:
                    queue.append((*goods.pop(), None))
                queue.append((topic, raw, bad_one))
            queue += [(t, r, None) for t, r in goods]
            for i, (topic, raw, maybe) in enumerate(queue):
                meta = await producer.send_and_wait(topic, raw, key=b"%d" % (i % 3))
                if maybe is not None:
                    maybe.source = f"{topic}/{meta.partition}/{meta.offset}"
            await producer.send_and_wait(tier1, held.to_bytes(), key=held.key)
            for raw, _ in foreign:
                await producer.send_and_wait(topics.dlq, raw)
        finally:
            await producer.stop()

        expected_good = {(bills[10], MONTHLY)}
        for _, raw in good:
            e = NotificationEvent.from_bytes(raw)
            expected_good.add((e.bill_id, e.purpose))

        async def settled() -> bool:
            letters = await c.fetchval("SELECT count(*) FROM dead_letter")
            sent = await c.fetchval("SELECT count(*) FROM delivery_attempt WHERE outcome = 'SENT'")
            return bool(letters >= len(bad) + len(foreign) and sent >= len(expected_good))

        deadline = asyncio.get_running_loop().time() + 120
        while not await settled():
            assert asyncio.get_running_loop().time() < deadline, "the drill did not settle"
            assert all(p.poll() is None for p in procs), "a consumer process exited"
            await asyncio.sleep(0.5)
        # No group lags: every event handled and committed, so nothing can be sent or
        # dead-lettered twice after this. The commits' own time, not what a slow machine's
        # settling left of the first deadline.
        try:
            await caught_up(platform, [*CHANNELS, "dlq"], within=90, alive=procs)
        except AssertionError as exc:  # what each process said last: the why, for next time
            said = "\n".join(
                f"-- process {p.pid}:\n" + "".join(o.lines[-12:])
                for p, o in zip(procs, outs, strict=True)
            )
            raise AssertionError(f"{exc}\n{said[-6000:]}") from None
        assert all(p.poll() is None for p in procs), "a consumer process exited"
    finally:
        for p in procs:
            p.send_signal(signal.SIGTERM)
        codes = [await asyncio.to_thread(p.wait, 60) for p in procs]
        for o in outs:
            o.thread.join(10)
    assert codes == [0] * len(procs), "".join(o.lines[-1] for o in outs if o.lines)[-3000:]

    sent = await c.fetch(
        "SELECT n.bill_id, n.purpose, count(*) AS n FROM delivery_attempt d "
        "JOIN notification n ON n.id = d.notification_id WHERE d.outcome = 'SENT' GROUP BY 1, 2"
    )
    assert {(r["bill_id"], r["purpose"]): r["n"] for r in sent} == {k: 1 for k in expected_good}
    letters = {
        r["letter_key"]: r["reason"]
        for r in await c.fetch("SELECT letter_key, reason FROM dead_letter")
    }
    ours = {f"src:{why.source}": why.reason for _, _, why in bad}
    assert set(letters) - {k for k in letters if k.startswith("dlq:")} == set(ours)
    for key, reason in ours.items():
        assert reason in letters[key], (key, letters[key], reason)
    theirs = sorted(r for k, r in letters.items() if k.startswith("dlq:"))
    assert len(theirs) == len(foreign)
    for _, reason in foreign:
        assert any(reason in r for r in theirs), (reason, theirs)
    dead = {
        r["bill_id"]
        for r in await c.fetch("SELECT bill_id FROM notification WHERE status = 'DEAD_LETTER'")
    }
    assert dead == {bills[5], bills[8], bills[9]}
