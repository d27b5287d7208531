"""The production Temporal server with mutual TLS (`TELEBILL_TEMPORAL_SERVER_MTLS`): its
`global.tls` as the stack renders it, certificates made at start. The stack's own client
(certificates from the stack folder, no other setting) runs the smoke workflow; a client
without a certificate and one with a certificate of another CA are refused.

Not in `make test` (the first build takes minutes): `make test-production-temporal`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from telebill.config import Settings
from telebill.stack.certs import MutualTls, mutual_tls
from telebill.stack.temporal_server import TemporalServer
from telebill.temporal_client import stack_tls_folder
from tests.integration.mutual_tls import client_settings, refused
from workers.smoke import run_smoke

pytestmark = [pytest.mark.production, pytest.mark.integration, pytest.mark.slow]
PORT = 26233  # its ports run to +706: below the kernel's ephemeral range, apart from 27233's


@pytest.fixture(scope="module")
async def server() -> AsyncIterator[Settings]:
    settings = Settings(temporal_server="production", temporal_port=PORT, temporal_server_mtls=True)
    service = TemporalServer(settings)
    print(await service.up())
    try:
        yield settings
    finally:
        print(service.down())


def stack_tls(settings: Settings) -> MutualTls:
    return mutual_tls(stack_tls_folder(settings))  # made by `up`: only named here


async def test_the_stacks_own_client_runs_a_workflow(server: Settings) -> None:
    report = await run_smoke(server)
    assert report.result.postgres_echo == report.token


async def test_a_client_without_a_certificate_is_refused(server: Settings) -> None:
    tls = stack_tls(server)
    said = await refused(client_settings(server, server.temporal_target, tls, None))
    print(said)


async def test_a_certificate_of_another_ca_is_refused(server: Settings, tmp_path: Path) -> None:
    other = mutual_tls(tmp_path / "other-ca")
    stranger = client_settings(server, server.temporal_target, stack_tls(server), other.client)
    print(await refused(stranger))
