"""Temporal over mutual TLS as settings: what the client is given, and the `global.tls` the
local production server is configured with (TELEBILL_TEMPORAL_SERVER_MTLS)."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
import yaml
from pydantic import ValidationError

from telebill.config import Settings
from telebill.stack.certs import mutual_tls
from telebill.stack.process import StackError
from telebill.stack.temporal import Temporal
from telebill.stack.temporal_server import TemporalServer
from telebill.temporal_client import stack_tls_folder, tls_config


@pytest.fixture(autouse=True)
def no_tls_in_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("TLS", "TLS_CLIENT_CERT", "TLS_CLIENT_KEY", "TLS_SERVER_CA", "TLS_SERVER_NAME"):
        monkeypatch.delenv(f"TELEBILL_TEMPORAL_{name}", raising=False)
    monkeypatch.delenv("TELEBILL_TEMPORAL_SERVER_MTLS", raising=False)
    monkeypatch.delenv("TEMPORAL_ADDRESS", raising=False)


def test_unset_is_plaintext_as_before() -> None:
    assert tls_config(Settings()) is None
    assert not any("TLS" in k for k in Settings().process_env())


def test_the_files_of_the_settings_are_what_the_client_shows(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tls = mutual_tls(tmp_path / "tls")
    monkeypatch.setenv("TEMPORAL_ADDRESS", "temporal.internal:7233")
    monkeypatch.setenv("TELEBILL_TEMPORAL_TLS_CLIENT_CERT", str(tls.client.cert))
    monkeypatch.setenv("TELEBILL_TEMPORAL_TLS_CLIENT_KEY", str(tls.client.key))
    monkeypatch.setenv("TELEBILL_TEMPORAL_TLS_SERVER_CA", str(tls.ca.cert))
    monkeypatch.setenv("TELEBILL_TEMPORAL_TLS_SERVER_NAME", "frontend.temporal.internal")
    s = Settings()
    config = tls_config(s)
    assert config is not None
    assert config.client_cert == tls.client.cert.read_bytes()
    assert config.client_private_key == tls.client.key.read_bytes()
    assert config.server_root_ca_cert == tls.ca.cert.read_bytes()
    assert config.domain == "frontend.temporal.internal"
    # a `telebill` child process of this installation connects the same way
    child = s.process_env()
    assert child["TELEBILL_TEMPORAL_TLS_CLIENT_KEY"] == str(tls.client.key)
    assert child["TELEBILL_TEMPORAL_TLS_SERVER_NAME"] == "frontend.temporal.internal"


def test_tls_alone_trusts_the_system_roots_and_shows_no_certificate() -> None:
    config = tls_config(Settings(temporal_tls=True))
    assert config is not None
    assert (config.client_cert, config.server_root_ca_cert, config.domain) == (None, None, None)


def test_a_certificate_without_its_key_is_refused_at_start(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="go together"):
        Settings(temporal_tls_client_cert=tmp_path / "client.pem")


def test_a_missing_file_is_named(tmp_path: Path) -> None:
    s = Settings(temporal_tls_server_ca=tmp_path / "nowhere.pem")
    with pytest.raises(RuntimeError, match=r"server CA .*nowhere\.pem"):
        tls_config(s)


def test_the_stack_with_mtls_gives_its_own_certificates_to_its_processes(tmp_path: Path) -> None:
    s = Settings(stack_dir=tmp_path, temporal_server="production", temporal_server_mtls=True)
    tls = mutual_tls(stack_tls_folder(s))
    config = tls_config(s)
    assert config is not None
    assert config.client_cert == tls.client.cert.read_bytes()
    assert config.server_root_ca_cert == tls.ca.cert.read_bytes()
    assert s.process_env()["TELEBILL_STACK_DIR"] == str(tmp_path)


def test_keys_are_the_owners_alone(tmp_path: Path) -> None:
    tls = mutual_tls(tmp_path / "tls")
    for key in (tls.ca.key, tls.server.key, tls.client.key):
        assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "tls").stat().st_mode) == 0o700
    again = mutual_tls(tmp_path / "tls")  # made once: a restart keeps the clients' certificates
    assert again.client.cert.read_bytes() == tls.client.cert.read_bytes()


def test_the_production_server_config_requires_client_certificates(tmp_path: Path) -> None:
    s = Settings(stack_dir=tmp_path, temporal_server="production", temporal_server_mtls=True)
    folder = TemporalServer(s).write_config()
    config = yaml.safe_load((folder / "production.yaml").read_text())
    tls_dir = stack_tls_folder(s)
    for group in ("frontend", "internode"):
        section = config["global"]["tls"][group]
        assert section["server"] == {
            "certFile": str(tls_dir / "server.pem"),
            "keyFile": str(tls_dir / "server.key"),
            "requireClientAuth": True,
            "clientCaFiles": [str(tls_dir / "ca.pem")],
        }
        # the services dial one another by a name of the server certificate
        assert section["client"] == {
            "serverName": "localhost",
            "rootCaFiles": [str(tls_dir / "ca.pem")],
        }
    assert (tls_dir / "server.key").exists()
    assert config["global"]["membership"]["broadcastAddress"] == "127.0.0.1"


def test_the_production_server_config_without_mtls_has_no_tls(tmp_path: Path) -> None:
    s = Settings(stack_dir=tmp_path, temporal_server="production")
    folder = TemporalServer(s).write_config()
    assert "tls" not in yaml.safe_load((folder / "production.yaml").read_text())["global"]
    assert not stack_tls_folder(s).exists()


async def test_the_dev_server_says_it_has_no_tls(tmp_path: Path) -> None:
    s = Settings(stack_dir=tmp_path, temporal_server_mtls=True)
    with pytest.raises(StackError, match="dev server has no TLS"):
        await Temporal(s)._start()


def test_the_production_servers_membership_ports_fit_its_schema(tmp_path: Path) -> None:
    """Temporal's PostgreSQL schema keeps a membership port in a smallint: with the stack's
    default ports (57233 and up) the server did not start."""
    s = Settings(stack_dir=tmp_path, temporal_server="production")
    folder = TemporalServer(s).write_config()
    services = yaml.safe_load((folder / "production.yaml").read_text())["services"]
    membership = [v["rpc"]["membershipPort"] for v in services.values()]
    assert s.temporal_port > 32767  # the default that overflowed
    assert all(0 < port <= 32767 for port in membership)
    assert len(set(membership)) == len(membership)
    grpc = {v["rpc"]["grpcPort"] for v in services.values()}
    assert set(TemporalServer(s).ports) >= grpc | set(membership)


def test_the_production_servers_connections_come_from_the_settings(tmp_path: Path) -> None:
    s = Settings(
        stack_dir=tmp_path,
        temporal_server="production",
        temporal_persistence_conns=33,
        temporal_visibility_conns=7,
    )
    stores = yaml.safe_load((TemporalServer(s).write_config() / "production.yaml").read_text())[
        "persistence"
    ]["datastores"]
    assert (stores["default"]["sql"]["maxConns"], stores["default"]["sql"]["maxIdleConns"]) == (
        33,
        33,
    )
    assert stores["visibility"]["sql"]["maxConns"] == 7
