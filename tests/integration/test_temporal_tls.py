"""Temporal over mutual TLS, tried locally: a second dev server on free ports with a front that
requires a client certificate of the stack's CA, since `temporal server start-dev` has no TLS
option (CLI 1.9: `--help` lists none; the production server's `global.tls` is tried in
tests/production/test_production_temporal_tls.py).

The client of the settings (TELEBILL_TEMPORAL_TLS_*) with its certificate runs the stack's
smoke workflow (a worker polling, an activity, a result) through it; a client with no
certificate, one with a certificate of another CA, and a plaintext one are refused.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from telebill.config import Settings
from telebill.stack.certs import MutualTls, mutual_tls
from telebill.stack.temporal import Temporal
from telebill.temporal_client import connect_client
from tests.helpers import free_low_ports
from tests.integration.mutual_tls import MtlsProxy, client_settings, mtls_proxy, refused
from workers.smoke import run_smoke

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@dataclass
class MtlsTemporal:
    settings: Settings  # this installation, dialling the front
    address: str
    tls: MutualTls
    other_ca: MutualTls  # certificates of a CA the front does not trust
    proxy: MtlsProxy


@pytest.fixture(scope="module")
async def temporal(
    settings: Settings, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[MtlsTemporal]:
    folder: Path = tmp_path_factory.mktemp("temporal-tls")
    base = free_low_ports(3)  # the dev server, its UI, the TLS front
    server = Temporal(
        settings.model_copy(
            update={
                "stack_dir": folder / "stack",
                "temporal_address": None,
                "temporal_port": base,
                "temporal_ui_port": base + 1,
                "temporal_server_mtls": False,
            }
        )
    )
    print(await server.up())
    tls = mutual_tls(folder / "tls")
    other = mutual_tls(folder / "other-ca")
    try:
        async with mtls_proxy(base + 2, base, tls) as proxy:
            address = f"127.0.0.1:{base + 2}"
            yield MtlsTemporal(
                client_settings(settings, address, tls, tls.client), address, tls, other, proxy
            )
    finally:
        print(server.down())


async def test_the_client_of_the_settings_runs_a_workflow_over_mtls(temporal: MtlsTemporal) -> None:
    accepted = temporal.proxy.accepted
    report = await run_smoke(temporal.settings)  # a worker and a client, both through the front
    assert report.result.postgres_echo == report.token
    client = await connect_client(temporal.settings)
    listed = [w.id async for w in client.list_workflows(f"WorkflowId = '{report.workflow_id}'")]
    assert listed == [report.workflow_id]
    assert temporal.proxy.accepted > accepted  # it went through the front, not around it


async def test_a_client_without_a_certificate_is_refused(temporal: MtlsTemporal) -> None:
    before = len(temporal.proxy.refusals)
    await refused(client_settings(temporal.settings, temporal.address, temporal.tls, None))
    assert "PEER_DID_NOT_RETURN_A_CERTIFICATE" in " ".join(temporal.proxy.refusals[before:])


async def test_a_certificate_of_another_ca_is_refused(temporal: MtlsTemporal) -> None:
    before = len(temporal.proxy.refusals)
    stranger = client_settings(
        temporal.settings, temporal.address, temporal.tls, temporal.other_ca.client
    )
    await refused(stranger)
    assert "CERTIFICATE_VERIFY_FAILED" in " ".join(temporal.proxy.refusals[before:])


async def test_a_plaintext_client_is_refused(temporal: MtlsTemporal) -> None:
    plain = temporal.settings.model_copy(
        update={
            "temporal_tls_client_cert": None,
            "temporal_tls_client_key": None,
            "temporal_tls_server_ca": None,
        }
    )
    await refused(plain)
