"""E-mail: an HTML bill with a plain-text alternative and a subject line."""

from __future__ import annotations

from telebill.channels.base import Channel, RenderedMessage, TemplateSource
from telebill.templates.context import BillContext
from telebill.templates.render import (
    TemplateInvalid,
    compile_template,
    render,
    render_blocks,
    to_plain_text,
)


class EmailChannel(Channel):
    name = "email"
    has_subject = True

    def render(self, template: TemplateSource, context: BillContext) -> RenderedMessage:
        if not template.subject:
            raise TemplateInvalid("email template: the subject is empty")
        data = context.for_template()
        compiled = compile_template(template.body, "email body")
        html, text = render_blocks(compiled, data, ["html", "text"], what="email body")
        text = to_plain_text(text)
        subject = render(
            compile_template(template.subject, "email subject"), data, what="email subject"
        )
        subject = to_plain_text(" ".join(subject.split()))
        return RenderedMessage(
            channel=self.name,
            template_code=template.code,
            template_version=template.version,
            kind="EMAIL",
            subject=subject,
            body=html,
            text=text,
            size_bytes=len(html.encode()),
        )


CHANNEL = EmailChannel()
