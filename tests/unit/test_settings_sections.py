"""Settings in sections (telebill/settings/): the composed `Settings` keeps every field of the
flat class it replaced, with its default, its environment variable and its checks; each
section can be built alone."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from telebill.config import PROJECT_ROOT, Settings
from telebill.settings import (
    SECTIONS,
    ConsumerSettings,
    DatabaseSettings,
    KafkaSettings,
    MailSettings,
    TemporalSettings,
)

# The fields of the flat Settings (104, at 3a5030a) with their defaults, frozen when it was cut
# into sections, plus those added since (temporal_membership_port, 7166fba); stack_dir's default
# is PROJECT_ROOT / ".stack".
BEFORE: dict[str, Any] = {
    "stack_dir": PROJECT_ROOT / ".stack",
    "pg_port": 55432,
    "kafka_port": 59092,
    "kafka_controller_port": 59093,
    "temporal_port": 57233,
    "temporal_ui_port": 58233,
    "kafka_partitions": 12,
    "temporal_server": "dev",
    "temporal_server_version": "v1.32.1",
    "temporal_history_shards": 4,
    "temporal_persistence_conns": 20,
    "temporal_visibility_conns": 10,
    "temporal_membership_port": 27933,
    "temporal_retention_days": 7,
    "kafka_brokers": 1,
    "kafka_replication_factor": None,
    "kafka_min_insync_replicas": None,
    "kafka_version": "4.1.1",
    "kafka_security_protocol": "PLAINTEXT",
    "kafka_sasl_mechanism": "SCRAM-SHA-512",
    "kafka_username": None,
    "kafka_password": None,
    "kafka_ssl_cafile": None,
    "kafka_sasl": False,
    "start_timeout_s": 180.0,
    "database_url": None,
    "database_url_worker": None,
    "database_url_consumer": None,
    "database_url_api": None,
    "kafka_bootstrap_servers": None,
    "temporal_address": None,
    "temporal_namespace": "default",
    "temporal_tls": False,
    "temporal_tls_client_cert": None,
    "temporal_tls_client_key": None,
    "temporal_tls_server_ca": None,
    "temporal_tls_server_name": None,
    "temporal_server_mtls": False,
    "task_queue": "telebill",
    "worker_max_activities": 256,
    "worker_max_workflow_tasks": 400,
    "worker_max_local_activities": 400,
    "worker_workflow_threads": 4,
    "worker_workflow_polls": 16,
    "worker_nonsticky_poll_ratio": 0.75,
    "db_pool_size": 10,
    "settle_shard_size": 20000,
    "settle_chunk_size": 5000,
    "settle_parallel": 3,
    "settle_processes": 2,
    "settle_heartbeat_timeout_s": 60.0,
    "settle_schedule_time": "02:00",
    "schedule_time_zone": "Asia/Seoul",
    "topic_prefix": "",
    "email_latency_s": 1.0,
    "email_failure_rate": 0.01,
    "sms_latency_s": 0.2,
    "sms_failure_rate": 0.01,
    "fail_addresses": "",
    "email_retries": 3,
    "sms_retries": 3,
    "retry_base_delay_s": 30.0,
    "retry_factor": 4.0,
    "channel_chains": "email>sms",
    "channel_retries": {},
    "channel_retry_base_delay_s": {},
    "channel_retry_factor": {},
    "channel_latency_s": {"alimtalk": 0.3, "push": 0.1},
    "channel_failure_rate": {},
    "alimtalk_non_user_rate": 0.05,
    "consumer_batch": 3000,
    "consumer_max_in_flight": 5000,
    "consumer_pipeline": 2,
    "scale_interval_s": 5.0,
    "scale_drain_s": 60.0,
    "scale_idle_s": 60.0,
    "scale_cool_down_s": 30.0,
    "scale_stop_timeout_s": 30.0,
    "shutdown_timeout_s": 20.0,
    "blackout_refresh_s": 30.0,
    "system_time_zone": "Asia/Seoul",
    "clock_offset_s": 0.0,
    "workflow_id_prefix": "",
    "notify_parallel_starts": 50,
    "notify_start_horizon_h": 36.0,
    "notify_stuck_after_s": 10800.0,
    "notify_outcome_wait_s": 10.0,
    "notify_local_outcome_wait_s": 3.0,
    "outcome_report_grace_s": 5.0,
    "dispatch_schedule_time": "09:00",
    "metrics_port": None,
    "metrics_host": "127.0.0.1",
    "sdk_metrics_port": None,
    "stuck_gauge_interval_s": 60.0,
    "overdue_grace_s": 3600.0,
    "api_host": "127.0.0.1",
    "api_port": 58080,
    "api_max_body_bytes": 262144,
    "console_session_idle_s": 1800,
    "console_session_max_s": 43200,
    "console_sign_in_failures": 10,
    "console_sign_in_window_s": 900,
    "preview_processes": 2,
    "preview_timeout_s": 3.0,
    "preview_memory_mb": 256,
    "api_send_rate": "20/minute",
    "api_personal_read_rate": "300/hour",
    "api_trusted_proxies": "127.0.0.1",
    # retention (issue 34)
    "archive_dir": None,
    "archive_months_online": 24,
    "archive_keep_years": 5,
    "archive_schedule_time": "03:00",
    # the e-mail provider: simulated, or a relay over SMTP (issue 35)
    "email_provider": "simulated",
    "smtp_host": "127.0.0.1",
    "smtp_port": 25,
    "smtp_tls": "none",
    "smtp_allow_plain": False,
    "smtp_ca_file": None,
    "smtp_username": None,
    "smtp_password": None,
    "smtp_helo_name": None,
    "smtp_connections": 16,
    "smtp_timeout_s": 30.0,
    "smtp_idle_s": 30.0,
    "email_from": "bill@telebill.example",
    "email_from_name": "텔레빌 고객센터",
    "dkim_selector": None,
    "dkim_key_file": None,
    "dkim_domain": None,
    # the member's bill page (issue 35)
    "web_host": "127.0.0.1",
    "web_port": 58081,
    "web_base_url": None,
    "web_link_key": None,
    "web_link_valid_days": 60,
    "web_rate_per_minute": 60.0,
    "web_rate_burst": 20,
    "web_trusted_proxies": "127.0.0.1",
    "web_limit_concurrency": 100,
    "web_db_acquire_timeout_s": 5.0,
}


def default_of(name: str) -> Any:
    field = Settings.model_fields[name]
    return field.default_factory() if field.default_factory else field.default  # type: ignore[call-arg]


def test_every_field_kept_with_its_default() -> None:
    assert set(Settings.model_fields) == set(BEFORE)
    assert {name: default_of(name) for name in BEFORE} == BEFORE


def test_each_field_in_exactly_one_section() -> None:
    owners: dict[str, list[str]] = {}
    for section in SECTIONS:
        for name in section.model_fields:
            owners.setdefault(name, []).append(section.__name__)
    assert {name: o for name, o in owners.items() if len(o) > 1} == {}
    assert set(owners) == set(BEFORE)


def test_descriptions_carried_over() -> None:
    assert Settings.model_fields["stack_dir"].description == (
        "Folder holding all data, logs and process ids of the local stack."
    )


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """No TELEBILL_* or service address from the caller's shell."""
    import os

    for name in list(os.environ):
        if name.startswith("TELEBILL_") or name in (
            "DATABASE_URL",
            "KAFKA_BOOTSTRAP_SERVERS",
            "TEMPORAL_ADDRESS",
        ):
            monkeypatch.delenv(name)
    return monkeypatch


def test_environment_variables_still_apply(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("TELEBILL_PG_PORT", "1")
    clean_env.setenv("TELEBILL_WORKER_MAX_ACTIVITIES", "7")
    clean_env.setenv("TELEBILL_CHANNEL_RETRIES", '{"alimtalk": 4}')
    clean_env.setenv("TELEBILL_API_SEND_RATE", "5/second")
    clean_env.setenv("TELEBILL_NOTIFY_OUTCOME_WAIT_S", "2.5")
    clean_env.setenv("DATABASE_URL", "postgresql://u:p@db/telebill")
    clean_env.setenv("KAFKA_BOOTSTRAP_SERVERS", "k1:9092")
    clean_env.setenv("TELEBILL_TEMPORAL_ADDRESS", "t:7233")
    clean_env.setenv("TELEBILL_KAFKA_PASSWORD", "secret")
    clean_env.setenv("TELEBILL_EMAIL_PROVIDER", "smtp")
    clean_env.setenv("TELEBILL_SMTP_PASSWORD", "relay-secret")
    clean_env.setenv("TELEBILL_SMTP_USERNAME", "telebill")
    s = Settings()
    assert s.email_provider == "smtp" and "relay-secret" not in repr(s)
    assert s.smtp_password is not None and s.smtp_password.get_secret_value() == "relay-secret"
    assert (s.pg_port, s.worker_max_activities, s.channel_retries) == (1, 7, {"alimtalk": 4})
    assert (s.api_send_rate, s.notify_outcome_wait_s) == ("5/second", 2.5)
    assert s.db_url == "postgresql+asyncpg://u:p@db/telebill"
    assert (s.kafka_servers, s.temporal_target) == ("k1:9092", "t:7233")
    assert s.kafka_password is not None and s.kafka_password.get_secret_value() == "secret"
    assert s.process_env()["TELEBILL_KAFKA_PASSWORD"] == "secret"


def test_a_section_alone(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("TELEBILL_TOPIC_PREFIX", "x.")
    clean_env.setenv("TELEBILL_DB_POOL_SIZE", "3")
    clean_env.setenv("TELEBILL_PG_PORT", "1")  # not the Kafka section's: ignored there
    kafka = KafkaSettings()
    assert kafka.topic_prefix == "x."
    assert not hasattr(kafka, "pg_port")
    assert DatabaseSettings().db_pool_size == 3


def test_checks_still_apply(clean_env: pytest.MonkeyPatch) -> None:
    with pytest.raises(ValidationError, match="go together"):
        Settings(temporal_tls_client_cert=PROJECT_ROOT / "cert.pem")
    with pytest.raises(ValidationError, match="go together"):
        TemporalSettings(temporal_tls_client_key=PROJECT_ROOT / "key.pem")
    clean_env.setenv("TELEBILL_CHANNEL_CHAINS", "email>fax")
    with pytest.raises(ValidationError, match="channel_chains"):
        Settings()
    with pytest.raises(ValidationError):
        ConsumerSettings()
    clean_env.delenv("TELEBILL_CHANNEL_CHAINS")
    with pytest.raises(ValidationError, match="go together"):
        Settings(dkim_selector="s1")
    with pytest.raises(ValidationError, match="password in clear"):
        MailSettings(smtp_host="relay.example.net", smtp_username="u", smtp_password="p")
    MailSettings(smtp_host="::1", smtp_username="u", smtp_password="p")  # loopback: allowed
    smtp: dict[str, Any] = {"email_provider": "smtp"}
    # the bills in clear to another host: only when said to be meant
    with pytest.raises(ValidationError, match=r"bills in clear.*TELEBILL_SMTP_ALLOW_PLAIN"):
        MailSettings(**smtp, smtp_host="relay.example.net")
    MailSettings(**smtp, smtp_host="relay.example.net", smtp_allow_plain=True)
    MailSettings(**smtp, smtp_host="relay.example.net", smtp_tls="starttls")
    MailSettings(smtp_host="relay.example.net")  # the simulated provider sends nothing there
    # names SMTP cannot carry fail at start, not at every message
    wrong: list[tuple[dict[str, Any], str]] = [
        ({"email_from": "bill@텔레빌.kr"}, r"TELEBILL_EMAIL_FROM.*xn--"),
        ({"email_from": "빌@telebill.kr"}, "TELEBILL_EMAIL_FROM: the mailbox name"),
        ({"dkim_domain": "telebill .kr"}, "TELEBILL_DKIM_DOMAIN"),
        ({"smtp_helo_name": "-mx.telebill.kr"}, "TELEBILL_SMTP_HELO_NAME"),
    ]
    for bad, named in wrong:
        with pytest.raises(ValidationError, match=named):
            MailSettings(**smtp, **bad)
    MailSettings(**smtp, email_from="bill@xn--om2bq8it0r.kr", smtp_helo_name="mx1.telebill.kr")
    clean_env.setenv("TELEBILL_SETTLE_SCHEDULE_TIME", "25:00")
    with pytest.raises(ValidationError, match="settle_schedule_time"):
        Settings()


def test_beside_and_copies_keep_the_class() -> None:
    s = Settings().beside("t1", "postgresql://a@b/c")
    assert isinstance(s, Settings)
    assert (s.topic_prefix, s.task_queue, s.workflow_id_prefix) == ("t1.", "t1", "t1-")
