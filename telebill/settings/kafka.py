"""Kafka as the clients see it: the brokers' address, sign-in and TLS, the topics' names,
partitions and replicas."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import BaseSettings

from telebill.settings.base import SECTION_CONFIG


class KafkaSettings(BaseSettings):
    model_config = SECTION_CONFIG

    kafka_bootstrap_servers: str | None = Field(
        default=None,
        validation_alias=AliasChoices(
            "KAFKA_BOOTSTRAP_SERVERS", "TELEBILL_KAFKA_BOOTSTRAP_SERVERS"
        ),
    )
    # Topics of this installation are named <topic_prefix>billing.<channel>…
    topic_prefix: str = ""
    kafka_partitions: int = Field(default=12, ge=1)
    # Replicas of each topic created, and how many must have a write before it is acknowledged
    # (acks=all). Unset: 3 and 2 where the cluster has three brokers or more, else every broker
    # and 1 (a local single broker). A topic that already exists keeps what it has.
    kafka_replication_factor: int | None = Field(default=None, ge=1)
    kafka_min_insync_replicas: int | None = Field(default=None, ge=1)
    # Kafka security: how every client (producer, consumer, admin) connects and signs in, built
    # by telebill/messaging/kafka_auth.py. PLAINTEXT (no sign-in) is only for a Kafka that no
    # one else can reach; a real deployment uses SASL_SSL with SCRAM-SHA-512, a principal of
    # the installation's own and ACLs on its topics only (docs/security.md). SSL alone
    # encrypts but signs no one in. The CA file: the brokers' CA (SSL, SASL_SSL); unset, the
    # system's roots.
    kafka_security_protocol: Literal["PLAINTEXT", "SASL_PLAINTEXT", "SASL_SSL", "SSL"] = "PLAINTEXT"
    kafka_sasl_mechanism: Literal["SCRAM-SHA-512", "SCRAM-SHA-256", "PLAIN"] = "SCRAM-SHA-512"
    kafka_username: str | None = None
    kafka_password: SecretStr | None = None
    kafka_ssl_cafile: Path | None = None
