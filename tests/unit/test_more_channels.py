"""AlimTalk and push render the bill as their services take it: AlimTalk only as the approved
template filled in, within 1,000 characters, with the bill's button; push with a short title and
body, the app's deep link and the bill's web page as the fallback, cut rather than refused when
a member's name is long."""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from telebill.channels import channel, channels
from telebill.channels.alimtalk import MAX_CHARS, matches
from telebill.channels.base import TemplateSource
from telebill.channels.push import BODY_CHARS, TITLE_CHARS
from telebill.rendering.context import SAMPLE_LINK, BillContext, sample_context
from telebill.rendering.render import TemplateInvalid


def named(name: str) -> BillContext:
    c = sample_context()
    return replace(c, member=replace(c.member, name=name))


def test_every_channel_renders_its_shipped_template() -> None:
    assert {"email", "sms", "alimtalk", "push"} <= set(channels())
    for ch in channels().values():
        m = ch.validate(ch.default_template())
        assert m.body and m.size_bytes > 0


def test_an_alimtalk_is_the_approved_template_filled_in_with_the_bills_button() -> None:
    ch = channel("alimtalk")
    template = ch.default_template()
    m = ch.render(template, sample_context())
    assert m.kind == "ALIMTALK" and m.subject == "청구서 보기"
    assert m.link == m.web_link == SAMPLE_LINK  # a real bill's: its member's signed link
    assert "원" in m.body and matches(template.body, m.body)
    assert not matches(template.body, m.body.replace("청구 금액", "청구 금액(할인)"))
    assert not matches(template.body, "광고: " + m.body)  # nothing may be added to it


@pytest.mark.parametrize(
    ("body", "says"),
    [
        ("{% if bill.amount_due %}x{% endif %}", "no {% %} statements"),
        ("{# note #}{{ member.name }}", "no {% %} statements"),
        ("가" * (MAX_CHARS + 1), "1,000"),
        ("{{ member.nope }}", "nope"),
    ],
)
def test_an_alimtalk_template_kakao_would_not_take_is_refused(body: str, says: str) -> None:
    with pytest.raises(TemplateInvalid, match=says):
        channel("alimtalk").validate(TemplateSource("alimtalk", "monthly_bill", 0, None, body))


@given(st.text(min_size=1, max_size=400).filter(lambda s: s.strip()))
def test_any_member_name_gives_a_push_within_its_limits(name: str) -> None:
    ch = channel("push")
    m = ch.render(ch.default_template(), named(name))
    assert m.subject is not None and len(m.subject) <= TITLE_CHARS
    assert len(m.body) <= BODY_CHARS and m.link and m.link.startswith("telebill://bills/")
    assert m.size_bytes <= 4_096


def test_a_push_falls_back_to_the_bills_page_where_the_app_is_not_installed() -> None:
    ch = channel("push")
    with_link = ch.render(ch.default_template(), sample_context())
    assert with_link.web_link == SAMPLE_LINK and with_link.link == "telebill://bills/0"
    without = ch.render(ch.default_template(), replace(sample_context(), link=""))
    assert without.web_link is None
    assert with_link.size_bytes > without.size_bytes + len(SAMPLE_LINK)  # in the payload


@given(st.text(max_size=60))
def test_an_alimtalk_with_any_name_still_matches_its_template(name: str) -> None:
    ch = channel("alimtalk")
    template = ch.default_template()
    m = ch.render(template, named(name or "x"))
    assert matches(template.body, m.body)
