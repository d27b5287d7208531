"""The month report's funnel tells first choices from fallbacks, on every channel (issue 38)."""

from __future__ import annotations

from telebill.month_report.charts import funnel, funnel_steps
from telebill.month_report.figures import ChannelDeliveries, Funnel
from telebill.month_report.queries import channel_order

DEMO = Funnel(  # the demo month's shape: most chose AlimTalk, some SMS, a few fell back
    email_first_try=570,
    email_after_retries=12,
    channels=[
        ChannelDeliveries("email", "이메일 e-mail", 582, 0),
        ChannelDeliveries("alimtalk", "알림톡 AlimTalk", 950, 12),
        ChannelDeliveries("push", "앱 푸시 app push", 256, 0),
        ChannelDeliveries("sms", "SMS", 180, 11),
    ],
    dead_letter=3,
    in_flight=2,
    scheduled=7,
)


def test_each_channel_has_its_first_choices_and_only_real_fallbacks() -> None:
    steps = {label: n for label, n, _ in funnel_steps(DEMO)}
    assert steps["알림톡 AlimTalk 선택 chosen"] == 950
    assert steps["알림톡 AlimTalk 대체 발송 fallback"] == 12
    assert steps["앱 푸시 app push 선택 chosen"] == 256
    assert "앱 푸시 app push 대체 발송 fallback" not in steps  # nothing fell back to push
    assert steps["SMS 선택 chosen"] == 180 and steps["SMS 대체 발송 SMS fallback"] == 11
    # every bill once: the bars add up to the funnel's total
    assert sum(steps.values()) == DEMO.total == 582 + 962 + 256 + 191 + 3 + 2 + 7


def test_the_chart_draws_every_bar_as_text() -> None:
    drawn = funnel(DEMO)
    for label, _, _ in funnel_steps(DEMO):
        assert label in drawn


def test_channels_run_from_e_mail_to_sms() -> None:
    names = ["sms", "push", "email", "alimtalk", "fax"]
    assert sorted(names, key=channel_order) == ["email", "alimtalk", "fax", "push", "sms"]


def test_a_label_is_text_in_the_svg_never_markup() -> None:
    """The page includes the charts unescaped (`| safe`): a channel's label must reach the SVG
    escaped by matplotlib."""
    hostile = ChannelDeliveries("x", "<script>alert(1)</script>", 1, 1)
    drawn = funnel(Funnel(1, 0, [hostile], 0, 0, 0))
    assert "<script>" not in drawn and "&lt;script&gt;" in drawn
