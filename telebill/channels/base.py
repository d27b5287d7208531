"""A delivery channel: its template (default, validation, rendering) and its sender.

A new channel (push, KakaoTalk AlimTalk, …) is one new module in this package that defines
`CHANNEL = SomeChannel()`; the registry finds it, and nothing else changes.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from telebill.rendering.context import BillContext, sample_context

DEFAULTS = Path(__file__).resolve().parents[1] / "templates" / "defaults"
DEFAULT_CODE = "monthly_bill"


@dataclass(frozen=True)
class TemplateSource:
    channel: str
    code: str
    version: int  # 0 for a template not stored yet
    subject: str | None
    body: str


@dataclass(frozen=True)
class RenderedMessage:
    channel: str
    template_code: str
    template_version: int
    kind: str  # what goes out: EMAIL, SMS, LMS, …
    subject: str | None
    body: str  # HTML for email, the text for SMS
    text: str | None  # the plain-text alternative, where the channel has one
    size_bytes: int
    link: str | None = None  # where it opens the bill: AlimTalk's button, a push's deep link
    # the member's signed link to the bill's page: the e-mail's "view in browser", a push's
    # fallback where the app is not installed (AlimTalk's button is this link)
    web_link: str | None = None


class DeliveryFailed(Exception):
    """The provider did not accept the message; the message platform retries or falls back.
    `permanent`: retrying cannot help (not a user of the service, no device, template refused),
    so the next channel of the chain is tried at once."""

    def __init__(self, message: str, permanent: bool = False) -> None:
        super().__init__(message)
        self.permanent = permanent


class Sender(Protocol):
    """A channel's provider as the consumer calls it (simulated, or SMTP for e-mail)."""

    async def send(
        self, address: str, message: RenderedMessage, idempotency_key: str | None = None
    ) -> bool:
        """True: accepted now; False: accepted before under this key (not sent again).
        Raises DeliveryFailed when the provider does not accept it."""
        ...

    async def aclose(self) -> None:
        """Let go of what it holds (connections); the consumer is stopping."""
        ...


class Channel(ABC):
    name: str
    has_subject: bool
    label: str = ""  # how reports and the console name it (Korean, then English); "" → name
    address_field: str = "email"  # the member's column it sends to: email, phone, push_token

    @property
    def title(self) -> str:
        return self.label or self.name

    def default_template(self, code: str = DEFAULT_CODE) -> TemplateSource:
        folder = DEFAULTS / self.name
        subject_file = folder / f"{code}.subject.j2"
        subject = subject_file.read_text().strip() if subject_file.exists() else None
        return TemplateSource(self.name, code, 0, subject, (folder / f"{code}.j2").read_text())

    @abstractmethod
    def render(self, template: TemplateSource, context: BillContext) -> RenderedMessage:
        """Render for one bill; raises TemplateInvalid if the template cannot render it."""

    def validate(self, template: TemplateSource) -> RenderedMessage:
        """Refuse a template that cannot render the sample bill (line and reason)."""
        return self.render(template, sample_context())
