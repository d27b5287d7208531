"""The message platform's consumers (`telebill consume …`): the channel chains, each channel's
retries and simulated provider, batches, and the `--scale auto` supervisor."""

from __future__ import annotations

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings

from telebill.domain.chain import parse_chains
from telebill.settings.base import SECTION_CONFIG


class ConsumerSettings(BaseSettings):
    model_config = SECTION_CONFIG

    email_latency_s: float = Field(default=1.0, ge=0)
    email_failure_rate: float = Field(default=0.01, ge=0, le=1)
    sms_latency_s: float = Field(default=0.2, ge=0)
    sms_failure_rate: float = Field(default=0.01, ge=0, le=1)
    fail_addresses: str = ""  # comma-separated addresses the simulated providers always refuse
    email_retries: int = Field(default=3, ge=3, le=5)
    sms_retries: int = Field(default=3, ge=3, le=5)
    retry_base_delay_s: float = Field(default=30.0, ge=0)
    retry_factor: float = Field(default=4.0, ge=1)
    # The channel chains, one per channel a member may choose for their bills; each ends in SMS
    # (then the DLQ). E-mail → SMS is always there; a member whose channel starts no chain
    # gets it. E.g. "alimtalk>email>sms;push>email>sms;sms".
    channel_chains: str = "email>sms"

    @field_validator("channel_chains")
    @classmethod
    def _chains_parse(cls, text: str) -> str:
        parse_chains(text)  # a ValueError here is the setting's one-line error
        return text

    # Channels besides e-mail and SMS, each by name (JSON objects, e.g.
    # TELEBILL_CHANNEL_RETRIES='{"alimtalk": 4}'); a channel not named gets 3 retries and the
    # e-mail provider's latency and failure rate.
    channel_retries: dict[str, int] = Field(default_factory=dict)
    channel_retry_base_delay_s: dict[str, float] = Field(default_factory=dict)  # its backoff
    channel_retry_factor: dict[str, float] = Field(default_factory=dict)
    channel_latency_s: dict[str, float] = Field(
        default_factory=lambda: {"alimtalk": 0.3, "push": 0.1}
    )
    channel_failure_rate: dict[str, float] = Field(default_factory=dict)
    # The simulated AlimTalk provider: this share of phone numbers are not KakaoTalk users
    # (decided by the number, so the same member always is or is not).
    alimtalk_non_user_rate: float = Field(default=0.05, ge=0, le=1)
    consumer_batch: int = Field(default=3_000, ge=1)
    consumer_max_in_flight: int = Field(default=5_000, ge=1)
    consumer_pipeline: int = Field(default=2, ge=1, le=8)  # batches handled at once
    # `telebill consume <kind> --scale auto`: how its supervisor reads the group's lag and acts.
    scale_interval_s: float = Field(default=5.0, gt=0)  # a lag reading this often
    scale_drain_s: float = Field(default=60.0, gt=0)  # add a process if the backlog takes longer
    scale_idle_s: float = Field(default=60.0, gt=0)  # no lag this long: one process fewer
    scale_cool_down_s: float = Field(default=30.0, ge=0)  # after a change, the group rebalances
    # A stopping consumer is killed after this (it exits by itself after shutdown_timeout_s).
    scale_stop_timeout_s: float = Field(default=30.0, gt=0)
    # Consumers and workers re-read the blackout windows this often (a new one applies within it).
    blackout_refresh_s: float = Field(default=30.0, ge=0)
