"""Temporal as the clients see it: the frontend's address, namespace and TLS, the task queue
and the workflow ids' prefix."""

from __future__ import annotations

from pathlib import Path
from typing import Self

from pydantic import AliasChoices, Field, model_validator
from pydantic_settings import BaseSettings

from telebill.settings.base import SECTION_CONFIG


class TemporalSettings(BaseSettings):
    model_config = SECTION_CONFIG

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

    @model_validator(mode="after")
    def _temporal_client_pair(self) -> Self:
        if (self.temporal_tls_client_cert is None) != (self.temporal_tls_client_key is None):
            raise ValueError(
                "TELEBILL_TEMPORAL_TLS_CLIENT_CERT and TELEBILL_TEMPORAL_TLS_CLIENT_KEY go together"
            )
        return self

    # The notification workflows' task queue; settlement and dispatch have their own beside it
    # (`<task_queue>-settlement`, `<task_queue>-dispatch`), so a backlog of a million
    # notification tasks never holds a settlement up.
    task_queue: str = "telebill"
    workflow_id_prefix: str = ""  # like topic_prefix: installations sharing one Temporal namespace
