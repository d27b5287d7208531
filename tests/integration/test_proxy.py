"""The API behind Nginx with deploy/nginx/telebill.conf as shipped (its ports, certificate paths
and log path moved to a temporary folder): TLS ends at the proxy, plain HTTP is redirected, the
console's cookie is Secure because the API believes the proxy's X-Forwarded-Proto, large bodies
stop at the proxy, and its access log holds neither query strings nor ids."""

from __future__ import annotations

import asyncio
import shutil
import socket
import ssl
import subprocess
from pathlib import Path

import httpx
import pytest

from telebill.config import PROJECT_ROOT, Settings
from telebill.domain.roles import Role
from telebill.staging.proxy import certificate, proxy_conf
from tests.helpers import free_low_ports
from tests.integration.api_server import api_server
from tests.integration.conftest import Databases
from tests.integration.test_api import settled

CONF = PROJECT_ROOT / "deploy" / "nginx" / "telebill.conf"


def handshake(port: int, ciphers: str) -> str | None:
    """The cipher a TLS 1.2 client offering only `ciphers` agrees on, or None if refused."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
    context.maximum_version = ssl.TLSVersion.TLSv1_2
    context.set_ciphers(ciphers)
    try:
        with (
            socket.create_connection(("127.0.0.1", port), timeout=10) as raw,
            context.wrap_socket(raw) as tls,
        ):
            found = tls.cipher()
            return found[0] if found else None
    except ssl.SSLError:
        return None


async def test_the_api_behind_nginx(
    databases: Databases, settings: Settings, tmp_path: Path
) -> None:
    nginx = shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin")
    if nginx is None:
        pytest.fail("nginx missing: `make test` installs it (scripts/system-deps.sh)")
    await asyncio.to_thread(certificate, tmp_path)
    stack = await settled(databases, settings)
    https, http = free_low_ports(2), free_low_ports(1)
    async with api_server(stack, "proxied") as api:
        api_port = int(api.url.rsplit(":", 1)[1])
        conf = proxy_conf(CONF, tmp_path, https, http, api_port)
        checked = await asyncio.to_thread(
            subprocess.run,
            [nginx, "-t", "-c", str(conf), "-e", str(tmp_path / "error.log")],
            capture_output=True,
            text=True,
        )
        assert checked.returncode == 0, checked.stderr
        proxy = await asyncio.create_subprocess_exec(
            nginx, "-c", str(conf), "-e", str(tmp_path / "error.log"), "-g", "daemon off;"
        )
        try:
            base = f"https://127.0.0.1:{https}"
            async with httpx.AsyncClient(base_url=base, verify=False, timeout=30) as browser:
                for _ in range(100):
                    try:
                        health = await browser.get("/api/health")
                        break
                    except httpx.TransportError:
                        await asyncio.sleep(0.1)
                assert health.status_code == 200
                assert "max-age" in health.headers["strict-transport-security"]
                assert await asyncio.to_thread(handshake, https, "AES128-GCM-SHA256") is None
                assert await asyncio.to_thread(handshake, https, "ECDHE-RSA-AES128-GCM-SHA256")
                async with httpx.AsyncClient() as plain:
                    moved = await plain.get(f"http://127.0.0.1:{http}/console")
                assert moved.status_code == 301
                assert moved.headers["location"].startswith("https://")

                signed = await browser.post(
                    "/console/login", data={"token": api.tokens[Role.ADMIN]}
                )
                assert signed.status_code == 303
                cookie = signed.headers["set-cookie"].lower()
                assert "secure" in cookie and "httponly" in cookie
                found = await browser.get("/console/bills", params={"member": 5})
                assert found.status_code == 200
                bearer = {"Authorization": f"Bearer {api.tokens[Role.VIEWER]}"}
                member = await browser.get("/api/members/5", headers=bearer)
                assert member.status_code == 200
                too_big = await browser.post(
                    "/api/templates/sms/monthly_bill", content=b"x" * 400_000, headers=bearer
                )
                assert too_big.status_code == 413
        finally:
            proxy.terminate()
            await proxy.wait()
    access = (tmp_path / "telebill.access.log").read_text()
    assert '"GET /api/members/N" 200' in access
    assert '"GET /console/bills" 200' in access
    assert "member=5" not in access and "/5" not in access
    assert api.tokens[Role.ADMIN] not in access
