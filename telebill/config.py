"""Configuration from the environment (pydantic-settings), with defaults for the local stack:
the sections of telebill/settings/ composed into one `Settings`, and what derives from them."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from telebill.credentials import ensure_link_key, read_credentials
from telebill.domain.db_roles import DbRole
from telebill.errors import TelebillError
from telebill.settings import (
    PROJECT_ROOT,
    SECTION_CONFIG,
    ApiSettings,
    ConsumerSettings,
    DatabaseSettings,
    KafkaSettings,
    MailSettings,
    NotifySettings,
    ProcessSettings,
    StackSettings,
    TemporalSettings,
    WebSettings,
    WorkerSettings,
)
from telebill.settings.web import ANY_ADDRESS, is_local_db_url, is_loopback, url_host

__all__ = ["PROJECT_ROOT", "Settings", "asyncpg_dsn", "get_settings", "normalise_db_url"]


class Settings(
    StackSettings,
    DatabaseSettings,
    KafkaSettings,
    TemporalSettings,
    ProcessSettings,
    WorkerSettings,
    ConsumerSettings,
    MailSettings,
    NotifySettings,
    ApiSettings,
    WebSettings,
):
    """Each setting reads TELEBILL_<NAME>; service addresses also read their usual names.

    The fields, their defaults, checks and comments live in the sections of telebill/settings/
    (one module per concern); this class is all of them at once, read flat as
    `settings.<name>`, with what is derived from more than one section."""

    model_config = SECTION_CONFIG

    @property
    def db_url(self) -> str:
        """SQLAlchemy URL (asyncpg driver) of the database in use, as its owner (migrations,
        the seed, the CLI's commands)."""
        if self.database_url:
            return normalise_db_url(self.database_url)
        owner = DbRole.OWNER.login
        password = read_credentials(self.stack_dir).get(owner)
        if password is None:  # a stack from before the generated passwords (`stack up` moves it)
            owner, password = "telebill", "telebill"
        return f"postgresql+asyncpg://{owner}:{password}@127.0.0.1:{self.pg_port}/telebill"

    def db_url_for(self, role: DbRole) -> str:
        """The URL the process of `role` connects with (see database_url_worker)."""
        explicit = {
            DbRole.WORKER: self.database_url_worker,
            DbRole.CONSUMER: self.database_url_consumer,
            DbRole.API: self.database_url_api,
        }.get(role)
        if explicit:
            return normalise_db_url(explicit)
        # lazy: SQLAlchemy, ~0.17 s of a start, not for every process that reads settings
        from sqlalchemy.engine import make_url

        url = make_url(self.db_url)
        password = read_credentials(self.stack_dir).get(role.login)
        on_stack = url.host == "127.0.0.1" and url.port == self.pg_port
        if role is DbRole.OWNER or password is None or not on_stack:
            return self.db_url
        return url.set(username=role.login, password=password).render_as_string(hide_password=False)

    def bill_link_key(self) -> bytes:
        """The key of the members' bill links: TELEBILL_WEB_LINK_KEY, else the stack's own.

        The stack's own is generated into this host's stack folder, so it serves only an
        installation whose processes all share that folder. One that evidently spans more (its
        links published at TELEBILL_WEB_BASE_URL, or its database on another host) would sign
        with a key per host and every link would open nothing: it must be given the key."""
        if self.web_link_key is not None:  # 32 characters or more (telebill/settings/web.py)
            return self.web_link_key.get_secret_value().encode()
        if self.web_base_url is not None:
            beyond = f"the links are published at TELEBILL_WEB_BASE_URL ({self.web_base_url})"
        elif not is_local_db_url(self.database_url):
            beyond = "the database is on another host"
        else:
            return ensure_link_key(self.stack_dir).encode()
        raise TelebillError(
            f"TELEBILL_WEB_LINK_KEY is not set and {beyond}: give every process of the "
            "installation the same key of 32 characters or more (a key generated per host "
            "would make every link fail)"
        )

    @property
    def web_url(self) -> str:
        """The bill page's public address, the links' base: TELEBILL_WEB_BASE_URL (https, or
        http on loopback: telebill/settings/web.py), else this machine's page for the local
        stack: loopback, 127.0.0.1 when the page listens on every address (0.0.0.0, ::), an
        IPv6 address in brackets. A page listening on another address has no such default: the
        links would go out over plain http to the world."""
        if self.web_base_url:
            return self.web_base_url
        host = "127.0.0.1" if self.web_host in ANY_ADDRESS else self.web_host
        if not is_loopback(host):
            raise TelebillError(
                f"TELEBILL_WEB_BASE_URL is not set and the bill page listens on {host}, not "
                "loopback: set it to the page's public https address"
            )
        return f"http://{url_host(host)}:{self.web_port}"

    @property
    def kafka_servers(self) -> str:
        return self.kafka_bootstrap_servers or ",".join(
            f"127.0.0.1:{self.kafka_port + 2 * n}" for n in range(self.kafka_brokers)
        )

    @property
    def settlement_task_queue(self) -> str:
        return f"{self.task_queue}-settlement"

    @property
    def dispatch_task_queue(self) -> str:
        return f"{self.task_queue}-dispatch"

    @property
    def temporal_target(self) -> str:
        return self.temporal_address or f"127.0.0.1:{self.temporal_port}"

    @property
    def temporal_ui_url(self) -> str | None:
        if self.temporal_address or self.temporal_server == "production":
            return None
        return f"http://127.0.0.1:{self.temporal_ui_port}"

    def beside(self, name: str, database_url: str, **changes: Any) -> Settings:
        """Another installation on the same PostgreSQL, Kafka and Temporal: its own database,
        topics, workflow ids and task queue, all named after `name` (how tests and benchmarks
        run next to the main one)."""
        return self.model_copy(
            update={
                "database_url": database_url,
                "topic_prefix": f"{name}.",
                "workflow_id_prefix": f"{name}-",
                "task_queue": name,
                **changes,
            }
        )

    def process_env(self) -> dict[str, str]:
        """This installation as TELEBILL_* variables, for a `telebill` child process: the same
        database, Kafka, Temporal, topics, task queue, workflow ids and clock."""
        return (
            {
                "TELEBILL_DATABASE_URL": self.db_url,
                "TELEBILL_KAFKA_BOOTSTRAP_SERVERS": self.kafka_servers,
                "TELEBILL_TOPIC_PREFIX": self.topic_prefix,
                "TELEBILL_TASK_QUEUE": self.task_queue,
                "TELEBILL_WORKFLOW_ID_PREFIX": self.workflow_id_prefix,
                "TELEBILL_CLOCK_OFFSET_S": str(self.clock_offset_s),
                "TELEBILL_NOTIFY_START_HORIZON_H": str(self.notify_start_horizon_h),
            }
            | (
                {"TEMPORAL_ADDRESS": self.temporal_address}
                if self.temporal_address
                else {"TELEBILL_TEMPORAL_PORT": str(self.temporal_port)}
            )
            | self._temporal_tls_env()
            | self._kafka_security_env()
            | self._role_urls_env()
            | self._web_links_env()
        )

    def _role_urls_env(self) -> dict[str, str]:
        """The processes' own database URLs where they were given (else derived the same way)."""
        given = {
            "TELEBILL_DATABASE_URL_WORKER": self.database_url_worker,
            "TELEBILL_DATABASE_URL_CONSUMER": self.database_url_consumer,
            "TELEBILL_DATABASE_URL_API": self.database_url_api,
        }
        return {name: url for name, url in given.items() if url}

    def _web_links_env(self) -> dict[str, str]:
        """The links' key and base where they were given: a child builds the same links."""
        key = self.web_link_key.get_secret_value() if self.web_link_key else None
        values = {"TELEBILL_WEB_LINK_KEY": key, "TELEBILL_WEB_BASE_URL": self.web_base_url}
        return {name: value for name, value in values.items() if value}

    def _temporal_tls_env(self) -> dict[str, str]:
        """The Temporal TLS settings that are set: a child of an mTLS installation needs them
        to connect at all."""
        values = {
            "TELEBILL_TEMPORAL_TLS": "true" if self.temporal_tls else None,
            "TELEBILL_TEMPORAL_TLS_CLIENT_CERT": self.temporal_tls_client_cert,
            "TELEBILL_TEMPORAL_TLS_CLIENT_KEY": self.temporal_tls_client_key,
            "TELEBILL_TEMPORAL_TLS_SERVER_CA": self.temporal_tls_server_ca,
            "TELEBILL_TEMPORAL_TLS_SERVER_NAME": self.temporal_tls_server_name,
            "TELEBILL_TEMPORAL_SERVER_MTLS": "true" if self.temporal_server_mtls else None,
            # where the stack's certificates are, for a child of a stack with mTLS
            "TELEBILL_STACK_DIR": str(self.stack_dir) if self.temporal_server_mtls else None,
        }
        return {k: str(v) for k, v in values.items() if v is not None}

    def _kafka_security_env(self) -> dict[str, str]:
        """The Kafka security settings, for a child process: a child of an installation with
        SASL needs them to connect at all."""
        password = self.kafka_password.get_secret_value() if self.kafka_password else None
        values = {
            "TELEBILL_KAFKA_SECURITY_PROTOCOL": self.kafka_security_protocol,
            "TELEBILL_KAFKA_SASL_MECHANISM": self.kafka_sasl_mechanism,
            "TELEBILL_KAFKA_USERNAME": self.kafka_username,
            "TELEBILL_KAFKA_PASSWORD": password,
            "TELEBILL_KAFKA_SSL_CAFILE": self.kafka_ssl_cafile,
            "TELEBILL_KAFKA_SASL": "true" if self.kafka_sasl else None,
            # where the local stack's Kafka credentials are, for a child of a stack with SASL
            "TELEBILL_STACK_DIR": str(self.stack_dir) if self.kafka_sasl else None,
        }
        return {k: str(v) for k, v in values.items() if v is not None}


def normalise_db_url(url: str) -> str:
    """Accept the plain libpq form (postgresql://…) that operators usually have in DATABASE_URL."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+asyncpg://" + url[len(prefix) :]
    return url


def asyncpg_dsn(sqlalchemy_url: str) -> str:
    """The same database as a DSN that asyncpg.connect accepts."""
    return sqlalchemy_url.replace("postgresql+asyncpg://", "postgresql://", 1)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
