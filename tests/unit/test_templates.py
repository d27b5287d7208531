"""Rendering and validation of templates (no database needed)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from telebill.channels import channel, channels
from telebill.channels.base import TemplateSource
from telebill.channels.sms import LMS_MAX_BYTES, SMS_MAX_BYTES, message_kind
from telebill.rendering.context import MemberView, sample_context
from telebill.rendering.render import TemplateInvalid, won

EMAIL = channel("email")
SMS = channel("sms")


def sms(body: str) -> TemplateSource:
    return TemplateSource("sms", "t", 0, None, body)


def email(body: str, subject: str | None = "제목") -> TemplateSource:
    return TemplateSource("email", "t", 0, subject, body)


def test_both_channels_are_found_by_the_registry() -> None:
    assert {"email", "sms"} <= set(channels())


def test_won_format() -> None:
    assert won(54_890) == "54,890원" and won(-7) == "-7원" and won(0) == "0원"


def test_default_email_shows_every_item_the_amount_due_and_a_text_part() -> None:
    ctx = sample_context()
    msg = EMAIL.render(EMAIL.default_template(), ctx)
    assert msg.kind == "EMAIL" and msg.subject and "132,230원" in msg.subject
    assert msg.text is not None
    for item in ctx.items:
        assert item.label in msg.body and won(item.amount) in msg.body
        assert item.label in msg.text
    assert "2026년 12월 25일" in msg.body  # the due date
    assert "<" not in msg.text  # the alternative part is plain text


def test_default_email_links_to_the_bills_page_where_there_is_a_link() -> None:
    ctx = replace(sample_context(), link='https://bills.example/b/A_b-9?x=<1>&y="2"')
    msg = EMAIL.render(EMAIL.default_template(), ctx)
    assert msg.web_link == ctx.link and msg.text is not None
    assert 'href="https://bills.example/b/A_b-9?x=&lt;1&gt;&amp;y=&#34;2&#34;"' in msg.body
    assert "브라우저에서 보기" in msg.body and f"브라우저에서 보기: {ctx.link}" in msg.text
    bare = EMAIL.render(EMAIL.default_template(), replace(ctx, link=""))  # the page's own
    assert "브라우저에서 보기" not in bare.body + (bare.text or "") and bare.web_link is None


def test_a_member_name_with_markup_is_escaped_in_html_and_plain_in_text() -> None:
    ctx = replace(sample_context(), member=MemberView(id=1, name="<script>x()</script>"))
    msg = EMAIL.render(EMAIL.default_template(), ctx)
    assert "<script>" not in msg.body and "&lt;script&gt;" in msg.body
    assert msg.text is not None and "<script>x()</script>" in msg.text


@pytest.mark.parametrize(
    ("source", "reason"),
    [
        (sms("{{ bill.amount_due|won }"), "line 1: unexpected '}'"),
        (sms("ok\n{{ member.phone }}"), "line 2: 'dict object' has no attribute 'phone'"),
        (sms("{{ nobody }}"), "'nobody' is undefined"),
        (sms("{{ ''.__class__.__mro__ }}"), "unsafe"),
        (sms("{{ bill.__class__ }}"), "unsafe"),  # a dict's attributes past its keys: sandboxed
        (sms("{{ bill.clear() }}"), "unsafe"),
        (sms("{% for i in items %}{{ i.label }}"), "endfor"),
        (sms("{{ bill.amount_due|nosuchfilter }}"), "nosuchfilter"),
        (sms("청구 " * 700), "an LMS holds at most 2,000"),
        (sms("요금 안내 📱"), "not in EUC-KR"),
        (
            email("{% block html %}x{% endblock %}{% block text %}x{% endblock %}", subject=""),
            "subject",
        ),
        (email("{% block html %}x{% endblock %}"), "no {% block text %}"),
        (
            email(
                "{% block html %}\nok\n{{ member.phone }}{% endblock %}"
                "{% block text %}{% endblock %}"
            ),
            "email body: line 3: 'dict object' has no attribute 'phone'",
        ),
    ],
)
def test_bad_templates_are_refused_with_the_reason(source: TemplateSource, reason: str) -> None:
    with pytest.raises(TemplateInvalid) as refused:
        channel(source.channel).validate(source)
    assert reason in str(refused.value)


def test_sms_or_lms_is_chosen_at_the_byte_boundary() -> None:
    # Hangul takes 2 bytes in EUC-KR, ASCII 1.
    assert message_kind("가" * 45) == ("SMS", SMS_MAX_BYTES)
    assert message_kind("가" * 45 + "a") == ("LMS", SMS_MAX_BYTES + 1)
    assert message_kind("가" * 1000) == ("LMS", LMS_MAX_BYTES)
    with pytest.raises(TemplateInvalid, match="2,001 bytes"):
        message_kind("가" * 1000 + "a")


def test_default_sms_fits_one_sms_and_records_its_kind() -> None:
    msg = SMS.render(SMS.default_template(), sample_context())
    assert msg.kind == "SMS" and msg.size_bytes <= SMS_MAX_BYTES
    assert "132,230원" in msg.body and "2026년 12월 25일" in msg.body


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (
            "{% for i in range(99999) %}{% for j in range(99999) %}{% endfor %}{% endfor %}",
            "steps|took longer",
        ),
        ("{% for i in range(99999) %}{{ 'abcdefghij' }}{% endfor %}", "characters"),
        ("{{ 'x' * 1000000000 }}", "repetition"),
        ("{{ 'x'|center(1000000000) }}", "center width"),
        ("{{ '%0999999999d' % 1 }}", "format width"),
        ("{{ '%0999999999d'|format(1) }}", "format width"),
        ("{{ '{:0999999999}'.format(1) }}", "format width"),
        ("{{ ('a' * 400000)|replace('', 'bb') }}", "replace beyond"),
        (  # loops over the bill's own items, nested: every iteration counts
            "{% for a in items %}{% for b in items %}{% for c in items %}{% for d in items %}"
            "{% for e in items %}{% for f in items %}{% endfor %}{% endfor %}{% endfor %}"
            "{% endfor %}{% endfor %}{% endfor %}",
            "steps|took longer",  # whichever bound a busy machine meets first
        ),
        ("{{ 2 ** 100000000 }}", "power"),
        ("{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(1) }}", "recursion"),
        ("{{ items.append(1) }}", "unsafe"),  # the sandbox is immutable
    ],
)
def test_a_template_past_a_limit_is_refused_quickly(body: str, reason: str) -> None:
    with pytest.raises(TemplateInvalid, match=reason):
        SMS.validate(sms(body))


def test_a_member_name_sms_cannot_carry_is_transliterated_not_a_failure() -> None:
    ctx = replace(sample_context(), member=MemberView(id=1, name="Zoë 😀 김"))
    msg = SMS.render(sms("{{ member.name }}님 {{ bill.amount_due|won }}"), ctx)
    assert msg.body == "Zoe ? 김님 132,230원"


def test_a_subject_cannot_carry_a_header_line_break() -> None:
    name = "김민수\r\nBcc: someone@example.com\n"
    ctx = replace(sample_context(), member=MemberView(id=1, name=name))
    msg = EMAIL.render(EMAIL.default_template(), ctx)
    assert msg.subject is not None and not any(c in msg.subject for c in "\r\n\x0b\x0c\x85")
