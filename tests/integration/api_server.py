"""A real `telebill api serve` process for one test installation, and its users."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from telebill.config import PROJECT_ROOT
from telebill.db.api_user_store import add_user
from telebill.domain.roles import Role
from tests.helpers import free_low_ports
from tests.integration.notify_stack import NotifyStack

TELEBILL = str(Path(sys.executable).parent / "telebill")


@dataclass
class ApiServer:
    url: str
    log: Path
    tokens: dict[Role, str]
    process: asyncio.subprocess.Process

    def client(self, role: Role | None = None) -> httpx.AsyncClient:
        headers = {"Authorization": f"Bearer {self.tokens[role]}"} if role else {}
        return httpx.AsyncClient(base_url=self.url, headers=headers, timeout=60)


@asynccontextmanager
async def api_server(
    stack: NotifyStack, name: str, extra_env: dict[str, str] | None = None
) -> AsyncIterator[ApiServer]:
    """Serve the stack's installation with one user of each role (named after the role)."""
    tokens = {role: await add_user(stack.conn, role.value, role) for role in Role}
    port = free_low_ports(1)
    log = PROJECT_ROOT / "test-output" / "api" / f"{name}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    env = stack.env() | {"TELEBILL_API_PORT": str(port)} | (extra_env or {})
    with log.open("w") as out:
        process = await asyncio.create_subprocess_exec(
            TELEBILL, "api", "serve", env=env, stdout=out, stderr=subprocess.STDOUT
        )
    url = f"http://127.0.0.1:{port}"
    try:
        async with httpx.AsyncClient(base_url=url) as probe:
            for _ in range(300):
                assert process.returncode is None, log.read_text()
                try:
                    if (await probe.get("/api/health")).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                await asyncio.sleep(0.1)
            else:
                raise AssertionError(f"the API did not answer: {log.read_text()}")
        yield ApiServer(url, log, tokens, process)
    finally:
        if process.returncode is None:
            process.terminate()
        await asyncio.wait_for(process.wait(), 30)
