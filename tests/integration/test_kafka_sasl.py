"""`TELEBILL_KAFKA_SASL=true`: the local Kafka with a SASL/SCRAM-SHA-512 listener and the ACL
authorizer, as a real deployment runs it. The application signs in as `telebill` (passwords made
at `stack up`, in a file only its owner reads) and publishes and consumes on its topics; no
sign-in or a wrong password is refused; outside its prefix the principal may neither read nor
write, and it may not grant itself more."""

from __future__ import annotations

import asyncio
import logging
import stat
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.conn import create_conn
from aiokafka.errors import (
    ClusterAuthorizationFailedError,
    KafkaConnectionError,
    SaslAuthenticationFailed,
    TopicAuthorizationFailedError,
)
from aiokafka.protocol.admin import DescribeAclsRequest
from aiokafka.protocol.fetch import FetchRequest

from telebill.config import Settings
from telebill.messaging.consumer import commit_handled, group_id, started_consumer
from telebill.messaging.kafka_auth import (
    ADMIN_PRINCIPAL,
    APP_PRINCIPAL,
    kafka_client_kwargs,
    local_credentials,
    local_credentials_file,
    sign_in_kwargs,
)
from telebill.messaging.producer import durable_producer
from telebill.messaging.topics import Topics
from telebill.stack.kafka import Kafka
from telebill.stack.kafka_sasl import Acl, Operation, Pattern, Resource, create_acls
from telebill.stack.kafka_topics import ensure_topics
from tests.helpers import free_low_ports

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.fixture
async def sasl_kafka(settings: Settings, tmp_path: Path) -> AsyncIterator[Kafka]:
    (tmp_path / "cache").symlink_to(settings.stack_dir / "cache")  # the resolved jars
    port = free_low_ports(2)
    kafka = Kafka(
        Settings(
            stack_dir=tmp_path,
            kafka_port=port,
            kafka_controller_port=port + 1,
            kafka_bootstrap_servers=None,
            kafka_partitions=2,
            kafka_sasl=True,
            topic_prefix=f"s{uuid.uuid4().hex[:6]}.",
        )
    )
    try:
        said = await kafka.up()
        assert said.startswith("started"), said
        yield kafka
    finally:
        kafka.down()


async def refusal(kwargs: dict[str, object], caplog: pytest.LogCaptureFixture) -> str:
    """Why a producer with these arguments could not start (what aiokafka logged)."""
    caplog.clear()
    producer = AIOKafkaProducer(**kwargs, request_timeout_ms=5000)
    with caplog.at_level(logging.WARNING, logger="aiokafka"), pytest.raises(KafkaConnectionError):
        await producer.start()
    await producer.stop()
    return caplog.text


async def fetch_error(kafka: dict[str, Any], topic: str) -> int:
    """The error code of a Fetch of the topic's partition 0 from its start."""
    admin = AIOKafkaAdminClient(**kafka)
    await admin.start()
    try:
        fetch = FetchRequest(0, 0, 1 << 20, 0, [(topic, [(0, 0, 1 << 20)])])
        [answer] = (await admin._send_request(fetch)).to_object()["topics"]
        return int(answer["partitions"][0]["error_code"])
    finally:
        await admin.close()


def plain(username: str, password: str) -> dict[str, Any]:
    return {
        "security_protocol": "SASL_PLAINTEXT",
        "sasl_mechanism": "PLAIN",
        "sasl_plain_username": username,
        "sasl_plain_password": password,
    }


async def describe_acls(port: int, **sign_in: Any) -> str:
    """Every ACL, as the controller listening on `port` describes them to this sign-in."""
    conn = await create_conn("127.0.0.1", port, request_timeout_ms=5000, **sign_in)
    try:
        any_acl = DescribeAclsRequest(1, None, 1, None, None, 1, 1)  # type ANY, pattern ANY, …
        return str(await conn.send(any_acl))
    finally:
        conn.close()


async def test_the_application_signs_in_and_stays_within_its_acls(
    sasl_kafka: Kafka, caplog: pytest.LogCaptureFixture
) -> None:
    s = sasl_kafka.settings
    path = local_credentials_file(s)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(sasl_kafka.nodes[0].config_file.stat().st_mode) == 0o600
    password = local_credentials(s)[APP_PRINCIPAL]
    app = kafka_client_kwargs(s)
    assert app["security_protocol"] == "SASL_PLAINTEXT"
    assert app["sasl_mechanism"] == "SCRAM-SHA-512"
    assert app["sasl_plain_username"] == APP_PRINCIPAL

    # On its own topics: an idempotent producer publishes, its consumer group reads and commits.
    topic = Topics(s.topic_prefix).channel("email")
    producer = durable_producer(app)
    await producer.start()
    try:
        sent = await producer.send_and_wait(topic, b"bill", key=b"k")
    finally:
        await producer.stop()
    consumer = await started_consumer(s, group_id(s, "email"), [topic], "email")
    try:
        record = await asyncio.wait_for(consumer.getone(), 30)
        assert (record.value, record.offset) == (b"bill", sent.offset)
        await commit_handled(consumer)
        committed = await consumer.committed(TopicPartition(topic, sent.partition))
        assert committed == sent.offset + 1
    finally:
        await consumer.stop()

    # No sign-in, or a wrong password: refused.
    no_sign_in = await refusal({"bootstrap_servers": sasl_kafka.address}, caplog)
    # the SASL listener closes a connection that asks anything before signing in
    assert "Unable to request metadata" in no_sign_in and "closed" in no_sign_in
    # Nor is the controllers' listener a way round: it takes the admin only (SASL/PLAIN).
    port = s.kafka_controller_port
    with pytest.raises(KafkaConnectionError, match="closed"):
        await describe_acls(port)
    with pytest.raises(SaslAuthenticationFailed):
        await describe_acls(port, **plain(APP_PRINCIPAL, password))
    admin = plain(ADMIN_PRINCIPAL, local_credentials(s)[ADMIN_PRINCIPAL])
    assert "User:telebill" in await describe_acls(port, **admin)
    wrong = sign_in_kwargs(sasl_kafka.address, "SASL_PLAINTEXT", "SCRAM-SHA-512", APP_PRINCIPAL,
                           password + "x")  # fmt: skip
    assert "SaslAuthenticationFailed" in await refusal(wrong, caplog)

    # A topic outside the prefix (it exists: the refusal is the ACL, not a missing topic).
    other = f"other{uuid.uuid4().hex[:6]}."  # another installation's prefix
    outside = Topics(other).channel("email")
    assert outside in await ensure_topics(sasl_kafka.client(), 1, other, channels=["email"])
    producer = AIOKafkaProducer(**app, request_timeout_ms=5000)
    await producer.start()
    try:
        with pytest.raises(TopicAuthorizationFailedError):
            await producer.send_and_wait(outside, b"x", partition=0)
    finally:
        await producer.stop()
    # aiokafka's consumer only logs a topic it may not describe and never fetches from it; a
    # Fetch sent as it would send one is what Kafka refuses.
    assert await fetch_error(app, outside) == TopicAuthorizationFailedError.errno

    # Nor may it grant itself that topic.
    grant = Acl(Resource.TOPIC, outside, Pattern.LITERAL, Operation.READ)
    with pytest.raises(ClusterAuthorizationFailedError):
        await create_acls(app, [grant])
