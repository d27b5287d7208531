"""KakaoTalk AlimTalk (카카오 알림톡): an information message on a template Kakao approved in
advance. The template is fixed text with {{ variables }} only (what Kakao reviews, its #{var}),
up to 1,000 characters once filled in, with a '청구서 보기' button to the bill's page (the
member's signed link, telebill/channels/links.py). The provider refuses a message whose text
is not the approved template filled in: `matches` is that check."""

from __future__ import annotations

import re
from functools import lru_cache

from telebill.channels.base import Channel, RenderedMessage, TemplateSource
from telebill.rendering.context import BillContext
from telebill.rendering.render import TemplateInvalid, compile_template, render

MAX_CHARS = 1_000
BUTTON = "청구서 보기"
VARIABLE = re.compile(r"\{\{.*?\}\}", re.DOTALL)


@lru_cache(maxsize=64)
def approved_pattern(body: str) -> re.Pattern[str]:
    """The texts Kakao accepts for this template: its fixed text, anything in each variable."""
    parts = VARIABLE.split(body.strip())
    return re.compile("(.+?)".join(re.escape(p) for p in parts), re.DOTALL)


def matches(template_body: str, text: str) -> bool:
    return approved_pattern(template_body).fullmatch(text) is not None


class AlimTalkChannel(Channel):
    name = "alimtalk"
    label = "알림톡 AlimTalk"
    has_subject = False
    address_field = "phone"

    def render(self, template: TemplateSource, context: BillContext) -> RenderedMessage:
        if "{%" in template.body or "{#" in template.body:
            raise TemplateInvalid(
                "alimtalk: a template is fixed text with {{ variables }} only, as Kakao approves "
                "it (no {% %} statements or {# #} comments)"
            )
        data = context.for_template()
        text = render(
            compile_template(template.body.strip(), "alimtalk", plain=True), data, what="alimtalk"
        )
        if len(text) > MAX_CHARS:
            raise TemplateInvalid(
                f"alimtalk: renders to {len(text):,} characters; Kakao takes at most {MAX_CHARS:,}"
            )
        return RenderedMessage(
            channel=self.name,
            template_code=template.code,
            template_version=template.version,
            kind="ALIMTALK",
            subject=BUTTON,
            body=text,
            text=text,
            size_bytes=len(text.encode()),
            link=context.link or None,
            web_link=context.link or None,
        )


CHANNEL = AlimTalkChannel()
