"""SMS: a short summary. Up to 90 bytes in EUC-KR it goes as an SMS, up to 2,000 as an LMS."""

from __future__ import annotations

import unicodedata
from dataclasses import replace

from telebill.channels.base import Channel, RenderedMessage, TemplateSource
from telebill.rendering.context import BillContext
from telebill.rendering.render import TemplateInvalid, compile_template, render

SMS_MAX_BYTES = 90
LMS_MAX_BYTES = 2_000
# CP949 is EUC-KR's superset that holds every Hangul syllable, with the same byte lengths.
ENCODING = "cp949"


def sms_safe(text: str) -> str:
    """Member data as an SMS can carry it: characters EUC-KR lacks are transliterated where
    they decompose into ones it has (Zoë → Zoe), else replaced by '?'; never a failed send."""
    out = []
    for ch in text:
        try:
            ch.encode(ENCODING)
            out.append(ch)
        except UnicodeEncodeError:
            plain = "".join(
                c for c in unicodedata.normalize("NFKD", ch) if not unicodedata.combining(c)
            )
            try:
                out.append(plain.encode(ENCODING).decode(ENCODING) if plain else "?")
            except UnicodeEncodeError:
                out.append("?")
    return "".join(out)


def safe_context(context: BillContext) -> BillContext:
    """The bill with its member's name and item labels made SMS-safe (the template's own text
    is checked when it is added; the data may be anything)."""
    member = replace(context.member, name=sms_safe(context.member.name))
    items = [replace(i, label=sms_safe(i.label)) for i in context.items]
    return replace(context, member=member, items=items)


def message_kind(text: str) -> tuple[str, int]:
    """('SMS' | 'LMS', bytes) for a text, or TemplateInvalid when no Korean SMS can carry it."""
    try:
        size = len(text.encode(ENCODING))
    except UnicodeEncodeError as exc:
        bad = text[exc.start : exc.end]
        raise TemplateInvalid(f"sms: {bad!r} cannot be sent by SMS (not in EUC-KR)") from None
    if size <= SMS_MAX_BYTES:
        return "SMS", size
    if size <= LMS_MAX_BYTES:
        return "LMS", size
    raise TemplateInvalid(f"sms: renders to {size:,} bytes; an LMS holds at most {LMS_MAX_BYTES:,}")


class SmsChannel(Channel):
    name = "sms"
    label = "SMS"
    has_subject = False
    address_field = "phone"

    def render(self, template: TemplateSource, context: BillContext) -> RenderedMessage:
        data = safe_context(context).for_template()
        text = render(compile_template(template.body, "sms", plain=True), data, what="sms").strip()
        kind, size = message_kind(text)
        return RenderedMessage(
            channel=self.name,
            template_code=template.code,
            template_version=template.version,
            kind=kind,
            subject=None,
            body=text,
            text=text,
            size_bytes=size,
        )


CHANNEL = SmsChannel()
