"""The bill notification event on Kafka: small (ids and attempt data only; no HTML, no personal
data), versioned, keyed by member so one member's events stay on one partition."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Literal
from uuid import UUID

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    model_validator,
)

from telebill.domain.chain import DEFAULT_CHAINS, MAX_CHANNELS, NAME_PATTERN, ChannelChain
from telebill.domain.redact import MAX_ERROR_CHARS, is_printable, redact
from telebill.domain.retry import MAX_RETRIES
from telebill.domain.statuses import RESEND_PREFIX, Purpose
from telebill.errors import TelebillError
from telebill.messaging.bounded_json import JsonBounds, Unreadable, loads

SCHEMA_VERSION: Literal[1] = 1
MAX_HISTORY = MAX_CHANNELS * (1 + MAX_RETRIES)  # every attempt of the longest chain fits
PG_BIGINT_MAX = 2**63 - 1  # ids beyond it are refused here, not by the database mid-batch
MAX_ATTEMPT = MAX_RETRIES + 1  # the first try and every retry of the longest chain
# MONTHLY_BILL or RESEND-n (statuses.Purpose, resend_purpose), n of at most six digits here
PURPOSE_PATTERN = rf"^({Purpose.MONTHLY_BILL}|{RESEND_PREFIX}[1-9][0-9]{{0,5}})$"
# The largest event the model allows (a full history of 500-character errors, each character
# escaped as a surrogate pair by another producer: ~150 KB) fits; nothing near a Kafka
# message's megabyte is read.
EVENT_BOUNDS = JsonBounds(max_bytes=256 * 1024)


class MalformedEvent(TelebillError):
    """The bytes are not an event this version understands; the reason goes to the DLQ."""


def _printable(text: str) -> str:
    if not is_printable(text):  # the rule redact() keeps to: a redacted error always fits
        raise ValueError("control characters and lone surrogates are not allowed")
    return text


Id = Annotated[int, Field(ge=1, le=PG_BIGINT_MAX)]
ChannelName = Annotated[str, Field(pattern=NAME_PATTERN)]
Attempt = Annotated[int, Field(ge=1, le=MAX_ATTEMPT)]


class AttemptNote(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    channel: ChannelName
    attempt: Attempt
    error: Annotated[str, Field(max_length=MAX_ERROR_CHARS), AfterValidator(_printable)]
    at: AwareDatetime


class NotificationEvent(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    schema_version: Literal[1] = SCHEMA_VERSION
    event_id: UUID  # new for each publish; the delivery key is what makes it idempotent
    bill_id: Id
    member_id: Id
    billing_month: str = Field(pattern=r"^\d{4}-(0[1-9]|1[0-2])$")
    purpose: str = Field(default=Purpose.MONTHLY_BILL, pattern=PURPOSE_PATTERN)
    channel: ChannelName = "email"
    # the channels this bill is tried on, in order (events from before chains: e-mail → SMS)
    chain: tuple[ChannelName, ...] = Field(
        default=ChannelChain.parse(DEFAULT_CHAINS).channels, max_length=MAX_CHANNELS
    )
    attempt: Attempt = 1  # within the channel
    not_before: AwareDatetime | None = None  # a retry tier holds it until then
    history: tuple[AttemptNote, ...] = Field(default=(), max_length=MAX_HISTORY)

    @model_validator(mode="after")
    def _on_its_chain(self) -> NotificationEvent:
        if self.channel not in ChannelChain(self.chain).channels:
            raise ValueError(f"channel {self.channel} is not in its chain {self.chain}")
        return self

    @property
    def channel_chain(self) -> ChannelChain:
        return ChannelChain(self.chain)

    @property
    def delivery_key(self) -> str:
        """One successful delivery per bill and purpose, whatever the channel or attempt."""
        return f"{self.bill_id}:{self.purpose}"

    @property
    def key(self) -> bytes:
        return str(self.member_id).encode()

    def to_bytes(self) -> bytes:
        # The default chain is left out: consumers from before chains (extra fields refused)
        # still read every e-mail → SMS event during a rolling upgrade.
        default = self.chain == type(self).model_fields["chain"].default
        return self.model_dump_json(exclude={"chain"} if default else None).encode()

    @classmethod
    def from_bytes(cls, raw: bytes | None) -> NotificationEvent:
        try:
            data = loads(raw, EVENT_BOUNDS)
        except Unreadable as exc:
            raise MalformedEvent(str(exc)) from None
        if not isinstance(data, dict):
            raise MalformedEvent("not a JSON object")
        if data.get("schema_version") != SCHEMA_VERSION:
            shown = repr(data.get("schema_version"))[:40]  # a reason stays short
            raise MalformedEvent(f"unsupported schema_version {shown}")
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            first = exc.errors(include_url=False, include_input=False)[0]
            where = ".".join(str(p) for p in first["loc"])
            raise MalformedEvent(f"invalid field {where}: {first['msg']}") from None
        except Exception as exc:  # whatever a validator raises: this event's fault alone
            raise MalformedEvent(f"invalid event: {type(exc).__name__}") from None

    @classmethod
    def received(
        cls, raw: bytes | None, on_retry_tier: bool, now: datetime, longest_delay: timedelta
    ) -> NotificationEvent:
        """An event read from a topic: valid, and with a `not_before` only where one belongs
        (a retry tier) and no later than the longest retry delay from `now`, so that no event
        can hold its partition longer than a retry would."""
        event = cls.from_bytes(raw)
        if event.not_before is None:
            return event
        if not on_retry_tier:
            raise MalformedEvent("not_before on a main topic (only retry tiers hold events)")
        if event.not_before > now + longest_delay:
            raise MalformedEvent(
                f"not_before {event.not_before.isoformat()} is further away than the longest "
                f"retry delay ({longest_delay.total_seconds():.0f} s)"
            )
        return event

    def failed(self, error: str, at: datetime) -> NotificationEvent:
        """This event with the failed attempt added to its history (the error redacted)."""
        note = AttemptNote(channel=self.channel, attempt=self.attempt, error=redact(error), at=at)
        return self.model_copy(update={"history": (*self.history, note)[-MAX_HISTORY:]})
