"""The composition root without the stack: what a CLI command gets, and an API whose database
does not answer fails at start with the reason (it is not left half built)."""

from __future__ import annotations

import pytest

import telebill.temporal_client
from telebill.config import Settings
from telebill.errors import Unavailable
from telebill.service import bootstrap
from telebill.service.bootstrap import api_process, cli_deps
from telebill.service.ports import Stores
from tests.helpers import free_port


def test_a_cli_command_gets_the_real_stores_and_a_connection_per_call() -> None:
    settings = Settings(topic_prefix="x.")
    deps = cli_deps(settings)
    assert deps.settings is settings and deps.pool is None
    assert deps.stores == Stores()


async def test_an_api_whose_database_does_not_answer_says_so() -> None:
    nowhere = Settings(database_url=f"postgresql://x:y@127.0.0.1:{free_port()}/none")
    with pytest.raises(Unavailable, match="does not answer"):
        async with api_process(nowhere):
            pytest.fail("started without a database")


class _NoSchema(Exception):
    pass


async def test_a_worker_serves_its_metrics_only_once_the_schema_is_there(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A worker waiting for PostgreSQL (or a migration) polls nothing: its metrics must not be up
    meanwhile, or the `up`-based TelebillWorkerDown alert stays silent (deploy/prometheus)."""
    order: list[str] = []

    class Pool:
        async def close(self) -> None:
            order.append("pool closed")

    schema_there = False

    async def wait_out(what: str, attempt: object) -> object:
        order.append(f"wait {len(order)}")
        if not schema_there:
            raise _NoSchema  # the schema never comes: waited for, in the real wait_out
        return None if order.count("monitoring") == 0 else Pool()

    async def connect_client(settings: Settings, runtime: object = None) -> object:
        order.append("client")
        return object()

    def monitoring() -> None:
        order.append("monitoring")

    monkeypatch.setattr(bootstrap, "wait_out", wait_out)
    monkeypatch.setattr(telebill.temporal_client, "connect_client", connect_client)
    with pytest.raises(_NoSchema):
        async with bootstrap.worker_process(Settings(), monitoring):
            pytest.fail("started without its schema")
    assert order == ["wait 0"]  # no metrics while it waits

    order.clear()
    schema_there = True
    async with bootstrap.worker_process(Settings(), monitoring):
        order.append("serving")
    assert order == ["wait 0", "monitoring", "client", "wait 3", "serving", "pool closed"]
