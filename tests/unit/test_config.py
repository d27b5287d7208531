from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from telebill.config import Settings, asyncpg_dsn, normalise_db_url
from telebill.credentials import ensure_credentials
from telebill.delivery.channel_setup import policies
from telebill.domain.db_roles import DbRole


def test_defaults_point_at_the_local_stack(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    # a stack beside the main one (make drills-cluster, a second checkout) sets these
    for var in ("DATABASE_URL", "KAFKA_BOOTSTRAP_SERVERS", "TEMPORAL_ADDRESS", "TELEBILL_PG_PORT"):
        monkeypatch.delenv(var, raising=False)
    for port in ("KAFKA", "KAFKA_CONTROLLER", "TEMPORAL", "TEMPORAL_UI"):
        monkeypatch.delenv(f"TELEBILL_{port}_PORT", raising=False)
    s = Settings(stack_dir=tmp_path)
    # before the stack's first `up` (no generated passwords yet): the fixed user of old
    assert s.db_url == "postgresql+asyncpg://telebill:telebill@127.0.0.1:55432/telebill"
    assert s.db_url_for(DbRole.API) == s.db_url
    passwords = ensure_credentials(tmp_path, [r.login for r in DbRole])
    owner, api = passwords["telebill_owner"], passwords["telebill_api"]
    assert s.db_url == f"postgresql+asyncpg://telebill_owner:{owner}@127.0.0.1:55432/telebill"
    assert s.db_url_for(DbRole.API) == (
        f"postgresql+asyncpg://telebill_api:{api}@127.0.0.1:55432/telebill"
    )
    assert s.kafka_servers == "127.0.0.1:59092"
    assert s.temporal_target == "127.0.0.1:57233"
    assert s.temporal_ui_url == "http://127.0.0.1:58233"


def test_service_addresses_come_from_their_usual_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgres://u:p@db.example:5432/bills")
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "k1:9092,k2:9092")
    monkeypatch.setenv("TEMPORAL_ADDRESS", "temporal.example:7233")
    s = Settings()
    assert s.db_url == "postgresql+asyncpg://u:p@db.example:5432/bills"
    # the local stack's generated passwords never go to another host: one URL for all there
    assert s.db_url_for(DbRole.WORKER) == s.db_url
    monkeypatch.setenv("TELEBILL_DATABASE_URL_WORKER", "postgres://w:q@db.example:5432/bills")
    assert Settings().db_url_for(DbRole.WORKER) == "postgresql+asyncpg://w:q@db.example:5432/bills"
    assert s.kafka_servers == "k1:9092,k2:9092"
    assert s.temporal_target == "temporal.example:7233"
    assert s.temporal_ui_url is None  # an external Temporal's UI is wherever its operator put it


def test_ports_are_configurable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.setenv("TELEBILL_PG_PORT", "6543")
    assert Settings().db_url.endswith("@127.0.0.1:6543/telebill")


def test_dsn_conversions() -> None:
    assert normalise_db_url("postgresql://a@h/d") == "postgresql+asyncpg://a@h/d"
    assert normalise_db_url("postgresql+asyncpg://a@h/d") == "postgresql+asyncpg://a@h/d"
    assert asyncpg_dsn("postgresql+asyncpg://a@h/d") == "postgresql://a@h/d"


def test_each_channel_has_its_own_retry_policy_and_a_bad_chain_is_refused() -> None:
    s = Settings(
        channel_retries={"alimtalk": 5},
        channel_retry_base_delay_s={"alimtalk": 2.0},
        channel_retry_factor={"push": 3.0},
    )
    p = policies(s)
    assert (p["alimtalk"].retries, p["alimtalk"].base_delay_s) == (5, 2.0)
    assert (p["push"].retries, p["push"].factor) == (3, 3.0)
    assert p["email"] == p["sms"] == type(p["email"])(3, s.retry_base_delay_s, s.retry_factor)
    with pytest.raises(ValidationError, match="ends in sms"):
        Settings(channel_chains="alimtalk>email")
