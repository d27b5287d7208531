"""The settings as aiokafka's client arguments, and the ACLs the application principal gets."""

from __future__ import annotations

import json
import ssl
from pathlib import Path

import pytest
from pydantic import SecretStr

from telebill.config import Settings
from telebill.errors import TelebillError
from telebill.messaging.kafka_auth import kafka_client_kwargs, local_credentials_file
from telebill.stack.kafka_sasl import Operation, Pattern, Resource, application_acls, scram_argument


def test_plaintext_by_default() -> None:
    s = Settings(kafka_bootstrap_servers="k1:9092,k2:9092")
    assert kafka_client_kwargs(s) == {
        "bootstrap_servers": "k1:9092,k2:9092",
        "security_protocol": "PLAINTEXT",
    }


def test_sasl_ssl_signs_in_and_verifies_the_brokers() -> None:
    s = Settings(
        kafka_security_protocol="SASL_SSL",
        kafka_username="billing",
        kafka_password=SecretStr("s3cret"),
    )
    kwargs = kafka_client_kwargs(s)
    assert kwargs["sasl_mechanism"] == "SCRAM-SHA-512"
    assert (kwargs["sasl_plain_username"], kwargs["sasl_plain_password"]) == ("billing", "s3cret")
    context = kwargs["ssl_context"]
    assert isinstance(context, ssl.SSLContext)
    assert context.check_hostname and context.verify_mode == ssl.CERT_REQUIRED
    assert "s3cret" not in repr(s)  # a SecretStr: not in logs or tracebacks


def test_sasl_without_credentials_says_what_to_set() -> None:
    with pytest.raises(TelebillError, match="TELEBILL_KAFKA_USERNAME"):
        kafka_client_kwargs(Settings(kafka_security_protocol="SASL_PLAINTEXT"))


def test_the_local_sasl_stack_signs_in_as_the_application(tmp_path: Path) -> None:
    s = Settings(stack_dir=tmp_path, kafka_sasl=True)
    with pytest.raises(TelebillError, match="stack up"):
        kafka_client_kwargs(s)
    path = local_credentials_file(s)
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({"admin": "a", "telebill": "t"}))
    kwargs = kafka_client_kwargs(s)
    assert kwargs["security_protocol"] == "SASL_PLAINTEXT"
    assert (kwargs["sasl_plain_username"], kwargs["sasl_plain_password"]) == ("telebill", "t")
    assert "TELEBILL_KAFKA_SASL" in s.process_env()


def test_the_application_acls_cover_its_prefix_only() -> None:
    acls = application_acls("acme.")
    topic_ops = {a.operation for a in acls if a.resource is Resource.TOPIC}
    assert topic_ops == {Operation.READ, Operation.WRITE, Operation.DESCRIBE, Operation.CREATE}
    assert {a.pattern for a in acls if a.resource is not Resource.CLUSTER} == {Pattern.PREFIXED}
    assert {a.name for a in acls if a.resource is Resource.TOPIC} == {"acme."}
    assert [a.name for a in acls if a.resource is Resource.GROUP] == ["acme.telebill-"]
    assert [a.operation for a in acls if a.resource is Resource.CLUSTER] == [
        Operation.IDEMPOTENT_WRITE
    ]
    # Without a prefix: the platform's own words (Kafka has no empty prefix).
    unprefixed = {a.name for a in application_acls("") if a.resource is Resource.TOPIC}
    assert unprefixed == {"billing.", "telebill."}


def test_scram_credentials_are_formatted_salted() -> None:
    argument = scram_argument("telebill", "pw-123")
    assert argument.startswith("SCRAM-SHA-512=[name=telebill,iterations=8192,salt=")
    assert "pw-123" not in argument
