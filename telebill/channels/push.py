"""Push (the operator's mobile app): a title, a short body and a deep link that opens the bill
in the app, and the bill's web page for a phone without the app (the member's signed link,
telebill/channels/links.py). Phones show about a line of title and two of body, so longer ones
are cut with '…' rather than refused (a long member name must not stop a bill); the payload
stays under the push services' 4 KB."""

from __future__ import annotations

import json

from telebill.channels.base import Channel, RenderedMessage, TemplateSource
from telebill.channels.links import app_link
from telebill.rendering.context import BillContext
from telebill.rendering.render import TemplateInvalid, compile_template, render

TITLE_CHARS = 65
BODY_CHARS = 240
MAX_PAYLOAD_BYTES = 4_096


def cut(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


class PushChannel(Channel):
    name = "push"
    label = "앱 푸시 app push"
    has_subject = True  # the notification's title
    address_field = "push_token"

    def render(self, template: TemplateSource, context: BillContext) -> RenderedMessage:
        if not template.subject:
            raise TemplateInvalid("push template: the title is empty")
        data = context.for_template()
        title = cut(
            render(
                compile_template(template.subject, "push title", plain=True),
                data,
                what="push title",
            ),
            TITLE_CHARS,
        )
        body = cut(
            render(
                compile_template(template.body, "push body", plain=True), data, what="push body"
            ),
            BODY_CHARS,
        )
        link = app_link(context.bill.id)
        fields = {"title": title, "body": body, "link": link}
        if context.link:
            fields["web"] = context.link
        payload = json.dumps(fields, ensure_ascii=False)
        if len(payload.encode()) > MAX_PAYLOAD_BYTES:
            raise TemplateInvalid(f"push: the payload exceeds {MAX_PAYLOAD_BYTES:,} bytes")
        return RenderedMessage(
            channel=self.name,
            template_code=template.code,
            template_version=template.version,
            kind="PUSH",
            subject=title,
            body=body,
            text=body,
            size_bytes=len(payload.encode()),
            link=link,
            web_link=context.link or None,
        )


CHANNEL = PushChannel()
