"""E-mail: an HTML bill with a plain-text alternative and a subject line; the template may offer
the member's signed link to the bill's page as `link` ("view in browser")."""

from __future__ import annotations

from telebill.channels.base import Channel, RenderedMessage, TemplateSource
from telebill.rendering.context import BillContext
from telebill.rendering.render import TemplateInvalid, compile_template, render


class EmailChannel(Channel):
    name = "email"
    label = "이메일 e-mail"
    has_subject = True

    def render(self, template: TemplateSource, context: BillContext) -> RenderedMessage:
        if not template.subject:
            raise TemplateInvalid("email template: the subject is empty")
        data = context.for_template()
        html = render(compile_template(template.body, "email body"), data, "html", "email body")
        text = render(
            compile_template(template.body, "email body", plain=True), data, "text", "email body"
        )
        subject = render(
            compile_template(template.subject, "email subject", plain=True),
            data,
            what="email subject",
        )
        subject = " ".join(subject.split())
        return RenderedMessage(
            channel=self.name,
            template_code=template.code,
            template_version=template.version,
            kind="EMAIL",
            subject=subject,
            body=html,
            text=text,
            size_bytes=len(html.encode()),
            web_link=context.link or None,
        )


CHANNEL = EmailChannel()
