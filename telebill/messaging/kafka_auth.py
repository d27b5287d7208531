"""How every Kafka client connects and signs in: the settings as the keyword arguments that
aiokafka's producer, consumer and admin client all take (bootstrap servers, security protocol,
SASL mechanism and credentials, TLS context). Every client of the platform is built with them,
so a deployment's SASL_SSL reaches each one."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from aiokafka.helpers import create_ssl_context

from telebill.config import Settings
from telebill.errors import TelebillError

# The local stack's principals (TELEBILL_KAFKA_SASL): the application's, allowed only its
# topics and groups, and the stack's own super user for its admin work (topics, ACLs).
APP_PRINCIPAL = "telebill"
ADMIN_PRINCIPAL = "admin"
CREDENTIALS_FILE = "sasl-credentials.json"

# Where a client finds Kafka and how it signs in: kafka_client_kwargs() of the settings, or a
# bare bootstrap string for a Kafka without authentication (the local stack's default; tests
# and benchmarks pass one).
KafkaAccess = str | Mapping[str, Any]


def client_kwargs(kafka: KafkaAccess) -> dict[str, Any]:
    """`kafka` as the keyword arguments of an aiokafka client."""
    return {"bootstrap_servers": kafka} if isinstance(kafka, str) else dict(kafka)


def local_credentials_file(s: Settings) -> Path:
    """The local stack's Kafka passwords (made at its first `stack up` with SASL, mode 0600)."""
    return s.stack_dir / "kafka" / CREDENTIALS_FILE


def local_credentials(s: Settings) -> dict[str, str]:
    """principal → password of the local stack's Kafka."""
    path = local_credentials_file(s)
    try:
        found = json.loads(path.read_text())
    except FileNotFoundError:
        raise TelebillError(
            f"TELEBILL_KAFKA_SASL is set but {path} does not exist: `telebill stack up` (with "
            "TELEBILL_KAFKA_SASL=true) makes it, or give TELEBILL_KAFKA_USERNAME and _PASSWORD"
        ) from None
    return {str(k): str(v) for k, v in found.items()}


def kafka_client_kwargs(s: Settings) -> dict[str, Any]:
    """The application's client arguments: the configured protocol and credentials; with
    TELEBILL_KAFKA_SASL and no username of its own, the local stack's `telebill` principal."""
    protocol: str = s.kafka_security_protocol
    username = s.kafka_username
    password = s.kafka_password.get_secret_value() if s.kafka_password else None
    if s.kafka_sasl:
        if protocol == "PLAINTEXT":  # the local stack's SASL listener has no TLS
            protocol = "SASL_PLAINTEXT"
        if username is None:
            username, password = APP_PRINCIPAL, local_credentials(s).get(APP_PRINCIPAL)
    return sign_in_kwargs(
        s.kafka_servers, protocol, s.kafka_sasl_mechanism, username, password, s.kafka_ssl_cafile
    )


def sign_in_kwargs(
    bootstrap: str,
    protocol: str,
    mechanism: str = "SCRAM-SHA-512",
    username: str | None = None,
    password: str | None = None,
    cafile: Path | None = None,
) -> dict[str, Any]:
    kwargs: dict[str, Any] = {"bootstrap_servers": bootstrap, "security_protocol": protocol}
    if protocol in ("SSL", "SASL_SSL"):
        # Verifies the brokers' certificates and host names (aiokafka has no way to skip it).
        kwargs["ssl_context"] = create_ssl_context(cafile=str(cafile) if cafile else None)
    if protocol.startswith("SASL_"):
        if not username or password is None:
            raise TelebillError(
                f"Kafka security protocol {protocol} signs in: set TELEBILL_KAFKA_USERNAME and "
                "TELEBILL_KAFKA_PASSWORD"
            )
        # aiokafka takes the SCRAM credentials in its sasl_plain_* arguments too.
        kwargs |= {
            "sasl_mechanism": mechanism,
            "sasl_plain_username": username,
            "sasl_plain_password": password,
        }
    return kwargs
