"""The batch decision of a channel consumer (no Kafka, no database): each event's fate is its
own, whatever is wrong with the others."""

from __future__ import annotations

import json
import random
import uuid
from dataclasses import replace
from datetime import UTC, datetime, time, timedelta

from telebill.channels import channel
from telebill.channels.base import Channel, RenderedMessage, TemplateSource
from telebill.db.delivery_store import Attempt, Recipient
from telebill.delivery.batch import (
    Dead,
    Loaded,
    Outcome,
    Record,
    decide,
    fresh,
    next_steps,
    triage,
)
from telebill.domain.retry import RetryPolicy
from telebill.domain.send_window import DeferralKind, Window, quiet_hours
from telebill.messaging.dead_letter import MAX_RAW_BYTES
from telebill.messaging.events import NotificationEvent
from telebill.messaging.topics import Topics
from telebill.rendering.context import BillContext, sample_context

NOW = datetime(2026, 12, 10, 3, 0, tzinfo=UTC)  # 12:00 in Seoul
HOUR = timedelta(hours=1)
TOPICS = Topics("t.")
MAIN, RETRY = TOPICS.channel("email"), TOPICS.retry("email", 1)


def event(bill: int, **kw: object) -> NotificationEvent:
    return NotificationEvent(
        event_id=uuid.uuid4(), bill_id=bill, member_id=bill, billing_month="2026-11", **kw
    )


def rec(topic: str, offset: int, value: bytes | None, partition: int = 0) -> Record:
    return Record(topic, partition, offset, b"k", value)


def test_triage_dead_letters_what_is_not_an_event_and_handles_the_rest() -> None:
    batch = {
        (MAIN, 0): [
            rec(MAIN, 0, event(1).to_bytes()),
            rec(MAIN, 1, b"\xff\x00 not json"),
            rec(
                MAIN, 2, json.dumps({**event(2).model_dump(mode="json"), "bill_id": 2**64}).encode()
            ),
            rec(MAIN, 3, event(3, not_before=NOW + HOUR).to_bytes()),  # not_before on a main topic
            rec(MAIN, 4, event(4).to_bytes()),
        ]
    }
    t = triage(batch, NOW, [RETRY], 2 * HOUR)
    assert [e.bill_id for _, e in t.events] == [1, 4]
    assert [(d.source, d.reason.split(":")[0]) for d in t.dead] == [
        (f"{MAIN}/0/1", "not JSON"),
        (f"{MAIN}/0/2", "invalid field bill_id"),
        (f"{MAIN}/0/3", "not_before on a main topic (only retry tiers hold events)"),
    ]
    assert t.holds == [] and t.commit == {(MAIN, 0): 5}


def test_a_retry_tier_not_due_is_held_from_that_event_no_longer_than_the_longest_delay() -> None:
    batch = {
        (RETRY, 0): [
            rec(RETRY, 10, event(1, attempt=2, not_before=NOW - HOUR).to_bytes()),
            rec(RETRY, 11, event(2, attempt=2, not_before=NOW + HOUR).to_bytes()),
            rec(RETRY, 12, event(3, attempt=2, not_before=NOW + HOUR).to_bytes()),
        ],
        (RETRY, 1): [rec(RETRY, 0, event(4, attempt=2, not_before=NOW + 30 * HOUR).to_bytes(), 1)],
    }
    t = triage(batch, NOW, [RETRY], 2 * HOUR)
    assert [e.bill_id for _, e in t.events] == [1]
    assert [(h.partition, h.offset, h.delay_s) for h in t.holds] == [((RETRY, 0), 11, 3600.0)]
    # 30 h away is no retry delay of ours: a dead letter, never a partition paused for a day
    assert [d.reason.split(" is ")[1][:7] for d in t.dead] == ["further"]
    assert t.commit == {(RETRY, 0): 11, (RETRY, 1): 1}


def test_one_event_per_delivery_key_and_none_another_batch_handles() -> None:
    a, a_again, b, c = event(1), event(1), event(2), event(3)
    got = fresh(
        [(rec(MAIN, i, None), e) for i, e in enumerate([a, a_again, b, c])], {(3, "MONTHLY_BILL")}
    )
    assert {k: e.event_id for k, (_, e) in got.items()} == {
        (1, "MONTHLY_BILL"): a.event_id,
        (2, "MONTHLY_BILL"): b.event_id,
    }


class Fussy(Channel):
    """Renders like e-mail, but bill 13's render raises (a template bug hit by one bill)."""

    name = "email"
    has_subject = True

    def render(self, template: TemplateSource, context: BillContext) -> RenderedMessage:
        if context.bill.id == 13:
            raise ZeroDivisionError("division by zero")
        return channel("email").render(template, context)


def loaded(bills: list[int], **kw: object) -> Loaded:
    contexts = {}
    for b in bills:
        c = sample_context()
        contexts[b] = replace(c, bill=replace(c.bill, id=b))
    base: dict[str, object] = {
        "delivered": set(),
        "contexts": contexts,
        "recipients": {b: Recipient(f"m{b}@example.com", None) for b in bills},
        "template": channel("email").default_template(),
        "template_problem": None,
        "blackouts": [],
    }
    base.update(kw)
    return Loaded(**base)  # type: ignore[arg-type]


def todo(*bills: int) -> dict[tuple[int, str], tuple[Record, NotificationEvent]]:
    return {(b, "MONTHLY_BILL"): (rec(MAIN, b, None), event(b)) for b in bills}


def test_each_event_is_sent_deferred_or_dead_on_its_own() -> None:
    quiet = quiet_hours(time(11, 0), time(13, 0), "Asia/Seoul")
    data = loaded(
        [1, 2, 13, 4],
        delivered={(4, "MONTHLY_BILL")},
        recipients={
            1: Recipient("m1@example.com", None),
            2: Recipient("m2@example.com", quiet),
            13: Recipient("m13@example.com", None),
            4: Recipient("m4@example.com", None),
        },
    )
    d = decide(Fussy(), todo(1, 2, 13, 4, 99), data, NOW, MAIN)
    assert [s.event.bill_id for s in d.sends] == [1]
    assert d.sends[0].source == f"{MAIN}/0/1" and d.sends[0].message.kind == "EMAIL"
    assert [(x.event.bill_id, x.due_at) for x in d.deferrals] == [(2, NOW + HOUR)]
    assert DeferralKind.of(d.deferrals[0].reason) is DeferralKind.QUIET_HOURS
    reasons = {x.event.bill_id: x.reason for x in d.dead if x.event}
    assert reasons == {
        13: "email message could not be rendered: ZeroDivisionError: division by zero",
        99: "unknown bill 99",
    }
    assert d.delivered_before == 1


def test_a_blackout_deferral_is_told_from_a_quiet_hours_one() -> None:
    night = Window(time(11, 0), time(13, 0), "Asia/Seoul", name="maintenance")
    d = decide(Fussy(), todo(1), loaded([1], blackouts=[night]), NOW, MAIN)
    assert DeferralKind.of(d.deferrals[0].reason) is DeferralKind.BLACKOUT


def test_a_missing_template_dead_letters_with_what_to_do() -> None:
    problem = "no active email template 'monthly_bill' (`telebill templates install-defaults`)"
    d = decide(Fussy(), todo(1), loaded([1], template=None, template_problem=problem), NOW, MAIN)
    assert [x.reason for x in d.dead] == [problem] and d.sends == []


def outcome(bill: int, channel_name: str, attempt: int) -> Outcome:
    e = event(bill, channel=channel_name, attempt=attempt)
    return Outcome(
        e, f"src/{bill}", Attempt(bill, "MONTHLY_BILL", channel_name, attempt, "FAILED", "550")
    )


def test_after_a_failure_the_next_tier_then_sms_then_the_dead_letter_queue() -> None:
    policies = {"email": RetryPolicy(3, 30, 4), "sms": RetryPolicy(3, 30, 4)}
    rng = random.Random(1)
    out = next_steps(
        "email", [outcome(1, "email", 1), outcome(2, "email", 4)], policies, TOPICS, NOW, rng
    )
    assert [m.topic for m in out] == [TOPICS.retry("email", 1), TOPICS.channel("sms")]
    retried = NotificationEvent.from_bytes(out[0].value)
    assert retried.attempt == 2 and retried.not_before is not None and retried.not_before > NOW
    [last] = next_steps("sms", [outcome(3, "sms", 4)], policies, TOPICS, NOW, rng)
    letter = json.loads(last.value)
    assert last.topic == TOPICS.dlq and letter["source"] == "src/3"
    assert letter["reason"] == "sms failed 4 times and there is no channel left"


def test_a_dead_letter_is_small_whatever_it_stands_for() -> None:
    huge = rec(MAIN, 7, b"\x00" + "김".encode() * 400_000)
    letter = Dead.of("not JSON", huge).message(TOPICS)
    assert len(letter.value) < 3 * MAX_RAW_BYTES
    raw = json.loads(letter.value)["raw"]
    assert raw["length"] == 1_200_001 and raw["truncated"] and len(raw["sha256"]) == 64


def test_a_message_past_a_render_limit_at_send_time_is_a_dead_letter_with_the_reason() -> None:
    # passes with a small bill, but this bill's amount makes the loop too long
    looping = TemplateSource(
        "email",
        "t",
        3,
        "제목",
        "{% block html %}{% for i in range(bill.amount_due) %}.{% endfor %}{% endblock %}"
        "{% block text %}x{% endblock %}",
    )
    d = decide(channel("email"), todo(1), loaded([1], template=looping), NOW, MAIN)
    assert d.sends == [] and "over the limit" in d.dead[0].reason


def test_a_template_past_its_limits_for_three_bills_is_not_tried_for_the_rest_of_the_batch() -> (
    None
):
    # each render of this one runs to the step limit: a batch of thousands would hold the
    # consumer for as many renders, past Kafka's poll interval
    costly = TemplateSource(
        "email",
        "t",
        4,
        "제목",
        "{% block html %}{% for i in range(99999) %}{% for j in range(99999) %}{% endfor %}"
        "{% endfor %}{% endblock %}{% block text %}x{% endblock %}",
    )
    bills = list(range(1, 41))
    d = decide(channel("email"), todo(*bills), loaded(bills, template=costly), NOW, MAIN)
    reasons = [x.reason for x in d.dead]
    assert d.sends == [] and len(reasons) == 40
    assert all("over the limit" in r for r in reasons[:3])
    assert all("went past its limits for 3 bills of this batch" in r for r in reasons[3:])


def test_a_member_without_the_app_skips_push_for_the_next_channel_at_once() -> None:
    push = channel("push")
    chain = ("push", "email", "sms")
    todo_push = {
        (b, "MONTHLY_BILL"): (
            rec(TOPICS.channel("push"), b, None),
            event(b, channel="push", chain=chain),
        )
        for b in (1, 2)
    }
    data = loaded(
        [1, 2],
        template=push.default_template(),
        recipients={1: Recipient("fcm-token-1", None), 2: Recipient(None, None)},
    )
    d = decide(push, todo_push, data, NOW, TOPICS.channel("push"))
    assert [s.event.bill_id for s in d.sends] == [1] and d.sends[0].message.kind == "PUSH"
    [skipped] = d.unreachable
    assert skipped.permanent and "has no push address" in (skipped.attempt.error or "")
    policies = {c: RetryPolicy() for c in chain}
    [moved] = next_steps("push", d.unreachable, policies, TOPICS, NOW, random.Random(1))
    assert moved.topic == TOPICS.channel("email")  # no retry tier of push
    nxt = NotificationEvent.from_bytes(moved.value)
    assert (nxt.channel, nxt.attempt, nxt.chain) == ("email", 1, chain)
    assert nxt.history[-1].channel == "push"
