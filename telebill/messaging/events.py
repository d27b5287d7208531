"""The bill notification event on Kafka: small (ids and attempt data only; no HTML, no personal
data), versioned, keyed by member so one member's events stay on one partition."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Literal
from uuid import UUID

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError

from telebill.errors import TelebillError

SCHEMA_VERSION: Literal[1] = 1
MAX_HISTORY = 12  # every attempt of the whole chain fits (1 + 5 retries per channel)


class MalformedEvent(TelebillError):
    """The bytes are not an event this version understands; the reason goes to the DLQ."""


class AttemptNote(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    channel: Literal["email", "sms"]
    attempt: int = Field(ge=1)
    error: str = Field(max_length=500)
    at: AwareDatetime


class NotificationEvent(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    schema_version: Literal[1] = SCHEMA_VERSION
    event_id: UUID  # new for each publish; the delivery key is what makes it idempotent
    bill_id: int = Field(ge=1)
    member_id: int = Field(ge=1)
    billing_month: str = Field(pattern=r"^\d{4}-(0[1-9]|1[0-2])$")
    purpose: str = "MONTHLY_BILL"
    channel: Literal["email", "sms"] = "email"
    attempt: int = Field(default=1, ge=1)  # within the channel
    not_before: AwareDatetime | None = None  # a retry tier holds it until then
    history: tuple[AttemptNote, ...] = Field(default=(), max_length=MAX_HISTORY)

    @property
    def delivery_key(self) -> str:
        """One successful delivery per bill and purpose, whatever the channel or attempt."""
        return f"{self.bill_id}:{self.purpose}"

    @property
    def key(self) -> bytes:
        return str(self.member_id).encode()

    def to_bytes(self) -> bytes:
        return self.model_dump_json().encode()

    @classmethod
    def from_bytes(cls, raw: bytes | None) -> NotificationEvent:
        if not raw:
            raise MalformedEvent("empty message")
        try:
            data = json.loads(raw)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise MalformedEvent(f"not JSON: {exc}") from None
        if not isinstance(data, dict):
            raise MalformedEvent("not a JSON object")
        if data.get("schema_version") != SCHEMA_VERSION:
            raise MalformedEvent(f"unsupported schema_version {data.get('schema_version')!r}")
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"])
            raise MalformedEvent(f"invalid field {where}: {first['msg']}") from None

    def failed(self, error: str, at: datetime) -> NotificationEvent:
        """This event with the failed attempt added to its history."""
        note = AttemptNote(channel=self.channel, attempt=self.attempt, error=error[:500], at=at)
        return self.model_copy(update={"history": (*self.history, note)[-MAX_HISTORY:]})
