"""The local Kafka with SASL/SCRAM and ACLs (TELEBILL_KAFKA_SASL): its principals' passwords,
the brokers' security configuration, the SCRAM credentials formatted into the metadata log, and
the ACLs of the application principal: what a real deployment configures, tried locally."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import os
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from enum import IntEnum
from pathlib import Path
from typing import Any

from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import for_code
from aiokafka.protocol.admin import CreateAclsRequest

from telebill.config import Settings
from telebill.messaging.kafka_auth import (
    ADMIN_PRINCIPAL,
    APP_PRINCIPAL,
    KafkaAccess,
    client_kwargs,
    local_credentials,
    local_credentials_file,
    sign_in_kwargs,
)
from telebill.messaging.topics import all_topics

MECHANISM = "SCRAM-SHA-512"
SCRAM_ITERATIONS = 8192  # Kafka's minimum for SCRAM-SHA-512 is 4096


def write_private(path: Path, text: str) -> None:
    """Write a file that holds secrets, readable by its owner only from its first byte on (an
    existing file, say a configuration written before SASL was on, is narrowed first)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        os.fchmod(f.fileno(), 0o600)
        f.write(text)


def ensure_credentials(s: Settings) -> dict[str, str]:
    """The principals' passwords: made once, at the first `stack up` with SASL (the SCRAM
    credentials are formatted into the metadata log with the storage), then kept beside the
    data, never in the repository."""
    path = local_credentials_file(s)
    if not path.exists():
        made = {p: secrets.token_urlsafe(24) for p in (ADMIN_PRINCIPAL, APP_PRINCIPAL)}
        write_private(path, json.dumps(made, indent=2) + "\n")
    return local_credentials(s)


def admin_kwargs(s: Settings) -> dict[str, Any]:
    """Client arguments of the local stack's super user (creating topics and ACLs)."""
    password = local_credentials(s)[ADMIN_PRINCIPAL]
    return sign_in_kwargs(s.kafka_servers, "SASL_PLAINTEXT", MECHANISM, ADMIN_PRINCIPAL, password)


def scram_argument(name: str, password: str) -> str:
    """`kafka-storage format --add-scram` for one user, salted here so that the password itself
    never shows in a command line (`ps` shows those to every local user)."""
    salt = secrets.token_bytes(16)
    salted = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, SCRAM_ITERATIONS)
    return (
        f"{MECHANISM}=[name={name},iterations={SCRAM_ITERATIONS},"
        f'salt="{base64.b64encode(salt).decode()}",'
        f'saltedpassword="{base64.b64encode(salted).decode()}"]'
    )


def format_arguments(credentials: dict[str, str]) -> list[str]:
    return [a for name, pw in sorted(credentials.items()) for a in ("-S", scram_argument(name, pw))]


def broker_properties(
    port: int, controller_port: int, credentials: dict[str, str]
) -> dict[str, str]:
    """A node's listeners and authorization with SASL: clients and the other brokers on a
    SCRAM-SHA-512 listener; the controllers' listener on SASL/PLAIN with the admin's password
    in the configuration (SCRAM cannot serve it: its credentials live in the metadata log the
    controllers serve); every principal but the admin allowed only what an ACL allows."""
    admin = credentials[ADMIN_PRINCIPAL]
    login = f'username="{ADMIN_PRINCIPAL}" password="{admin}"'
    return {
        "listeners": f"SASL_PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller_port}",
        "advertised.listeners": f"SASL_PLAINTEXT://127.0.0.1:{port}",
        "inter.broker.listener.name": "SASL_PLAINTEXT",
        "listener.security.protocol.map": "SASL_PLAINTEXT:SASL_PLAINTEXT,CONTROLLER:SASL_PLAINTEXT",
        "sasl.enabled.mechanisms": MECHANISM,
        "sasl.mechanism.inter.broker.protocol": MECHANISM,
        "listener.name.sasl_plaintext.scram-sha-512.sasl.jaas.config": (
            f"org.apache.kafka.common.security.scram.ScramLoginModule required {login};"
        ),
        "sasl.mechanism.controller.protocol": "PLAIN",
        "listener.name.controller.sasl.enabled.mechanisms": "PLAIN",
        "listener.name.controller.plain.sasl.jaas.config": (
            "org.apache.kafka.common.security.plain.PlainLoginModule required "
            f'{login} user_{ADMIN_PRINCIPAL}="{admin}";'
        ),
        "authorizer.class.name": "org.apache.kafka.metadata.authorizer.StandardAuthorizer",
        "allow.everyone.if.no.acl.found": "false",
        "super.users": f"User:{ADMIN_PRINCIPAL}",
    }


# Kafka's codes (org.apache.kafka.common.resource / acl), as the CreateAcls request carries them.
class Resource(IntEnum):
    TOPIC = 2
    GROUP = 3
    CLUSTER = 4


class Pattern(IntEnum):
    LITERAL = 3
    PREFIXED = 4


class Operation(IntEnum):
    READ = 3
    WRITE = 4
    CREATE = 5
    DESCRIBE = 8
    IDEMPOTENT_WRITE = 12


ALLOW = 3


@dataclass(frozen=True)
class Acl:
    resource: Resource
    name: str
    pattern: Pattern
    operation: Operation
    principal: str = f"User:{APP_PRINCIPAL}"
    host: str = "*"


def topic_prefixes(prefix: str) -> list[str]:
    """The prefixes of an installation's topics: its topic prefix, or without one the first
    word of each platform topic (`billing.`, `telebill.`): Kafka has no empty prefix."""
    if prefix:
        return [prefix]
    return sorted({t.split(".", 1)[0] + "." for t in all_topics("")})


def application_acls(prefix: str) -> list[Acl]:
    """What the application needs, and no more: its topics read, written, described and created
    (the consumers, the publishers, `stack up` against an external Kafka); its consumer groups
    (`<prefix>telebill-<kind>`) read; and idempotent writes (the producer is idempotent)."""
    topic_ops = (Operation.READ, Operation.WRITE, Operation.DESCRIBE, Operation.CREATE)
    return [
        *(Acl(Resource.TOPIC, p, Pattern.PREFIXED, op) for p in topic_prefixes(prefix)
          for op in topic_ops),
        Acl(Resource.GROUP, f"{prefix}telebill-", Pattern.PREFIXED, Operation.READ),
        Acl(Resource.CLUSTER, "kafka-cluster", Pattern.LITERAL, Operation.IDEMPOTENT_WRITE),
    ]  # fmt: skip


async def create_acls(kafka: KafkaAccess, acls: Iterable[Acl]) -> None:
    """Create `acls` (one that exists already is left as it is). aiokafka's admin client has
    no ACL calls; the request is Kafka's CreateAcls, sent as aiokafka's own calls send theirs.
    A refusal raises its Kafka error (ClusterAuthorizationFailedError for a principal that may
    not alter ACLs)."""
    admin = AIOKafkaAdminClient(**client_kwargs(kafka), request_timeout_ms=30000)
    await admin.start()
    try:
        for acl in acls:
            request = CreateAclsRequest(
                acl.resource, acl.name, acl.pattern, acl.principal, acl.host, acl.operation, ALLOW
            )
            response = await admin._send_request(request)
            for error_code, message in response.creation_responses:
                if error_code:
                    raise for_code(error_code)(f"{acl}: {message}")
    finally:
        with contextlib.suppress(Exception):
            await admin.close()
