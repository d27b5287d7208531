"""The JSON bodies the API accepts (validated by FastAPI: a bad one is a 422 with the field)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Path
from pydantic import BaseModel, Field, field_validator

INT64_MAX = 2**63 - 1
# An id of a row: what PostgreSQL's bigint holds, so that a larger one is a 422 here, never an
# overflow in the driver (a 500).
DbId = Annotated[int, Field(ge=1, le=INT64_MAX)]
PathId = Annotated[int, Path(ge=1, le=INT64_MAX)]
INT32_MAX = 2**31 - 1
Version = Annotated[int, Field(ge=1, le=INT32_MAX)]  # a template's version (an integer column)
MemberIds = list[DbId] | None


class Body(BaseModel):
    """A request body: no text in it may hold a NUL, which PostgreSQL's text (and the audit's
    JSON) cannot store; refused as a 422 with the field, not met as the driver's error (a 500)."""

    @field_validator("*", mode="after")
    @classmethod
    def _no_nul(cls, value: object) -> object:
        if isinstance(value, str) and "\x00" in value:
            raise ValueError("a NUL character, which cannot be stored")
        return value


class Members(Body):
    members: MemberIds = Field(default=None, max_length=10_000, description="default: all")


class Resend(Body):
    channel: str = "email"


class Reserve(Body):
    at: str = Field(description="ISO date-time; without an offset, the system time zone")
    month: str
    members: MemberIds = Field(default=None, max_length=10_000)


class Replay(Body):
    ids: list[DbId] | None = Field(default=None, max_length=10_000)
    all: bool = False


class Preferences(Body):
    preferred_day: int | None = None
    quiet: str | None = Field(default=None, description="HH:MM-HH:MM, the member's local time")
    no_quiet: bool = False
    timezone: str | None = None
    channel: str | None = Field(default=None, description="the bill channel (chain's start)")


class MicroLimit(Body):
    krw: int


class TemplateVersion(Body):
    subject: str | None = Field(default=None, max_length=500)
    body: str = Field(max_length=100_000)
    activate: bool = False


class Activate(Body):
    version: Version


class Preview(Body):
    bill_id: DbId | None = None
    version: Annotated[int, Field(ge=1, le=2**31 - 1)] | None = (
        None  # a stored version (default the active one) …
    )
    subject: str | None = Field(default=None, max_length=500)
    body: str | None = Field(default=None, max_length=100_000)  # … or this draft


class BlackoutWindow(Body):
    name: str = Field(min_length=1, max_length=64)
    start: str = Field(description="HH:MM, included")
    end: str = Field(description="HH:MM, excluded; before start wraps midnight")
    days: str | None = Field(default=None, description="e.g. sat,sun; default every day")


class Settle(Body):
    # Bounds a settlement can run with on one database; beyond them a request is a mistake.
    shard_size: int | None = Field(default=None, ge=1, le=1_000_000)
    chunk_size: int | None = Field(default=None, ge=1, le=100_000)
    parallel: int | None = Field(default=None, ge=1, le=64)
    notify: bool = True
