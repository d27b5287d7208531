"""The member's bill page behind deploy/nginx/telebill.conf as shipped (its ports, certificate
paths and log paths moved to a temporary folder): the page has a host name of its own, and the
proxy keeps what the page keeps out of its logs out of its own."""

from __future__ import annotations

import asyncio
import re
import shutil
import subprocess
from pathlib import Path

import httpx
import pytest

from telebill.channels.links import PAGE_PATH
from telebill.config import Settings
from telebill.staging.proxy import certificate, proxy_conf
from tests.helpers import free_low_ports
from tests.integration.conftest import Databases
from tests.integration.test_proxy import CONF
from tests.integration.web_server import Billed, billed, web_server


async def first_answer(
    phone: httpx.AsyncClient, path: str, proxy: asyncio.subprocess.Process, errors: Path
) -> httpx.Response:
    """The proxy's first answer to `path`, once it listens: waited for on that condition (its
    port answering), failing at once with its error log if it exits, and with a clear
    message, not an unbound name, if it never answers in 300 tries (30 s)."""
    for _ in range(300):
        if proxy.returncode is not None:
            raise AssertionError(f"nginx exited {proxy.returncode}: {read(errors)}")
        try:
            return await phone.get(path, headers={"X-Forwarded-For": "192.0.2.1"})
        except httpx.TransportError:
            await asyncio.sleep(0.1)
    raise AssertionError(f"nginx did not answer on its https port: {read(errors)}")


def read(path: Path) -> str:
    return path.read_text() if path.exists() else "(no error log)"


@pytest.fixture
async def installation(databases: Databases, settings: Settings) -> Billed:
    return await billed(databases, settings, 2, web_rate_burst=10, web_rate_per_minute=1.0)


async def test_the_proxy_serves_the_page_on_its_own_host_name(
    installation: Billed, tmp_path: Path
) -> None:
    """deploy/nginx/telebill.conf as shipped: the page's host reaches the page alone (the
    admin host goes to the API, here not running), a client's own X-Forwarded-For does not
    get it past the limit, and the access log holds no token."""
    nginx = shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin")
    if nginx is None:
        pytest.fail("nginx missing: `make test` installs it (scripts/system-deps.sh)")
    b = installation
    path = next(iter(b.contexts.values())).link.removeprefix(b.url)
    await asyncio.to_thread(certificate, tmp_path)
    https, http, nobody = free_low_ports(2), free_low_ports(1), free_low_ports(1)
    web_port = int(b.url.rsplit(":", 1)[1])
    assert b.url == f"http://127.0.0.1:{web_port}"
    conf = proxy_conf(CONF, tmp_path, https, http, nobody, web_port)
    checked = await asyncio.to_thread(
        subprocess.run,
        [nginx, "-t", "-c", str(conf), "-e", str(tmp_path / "error.log")],
        capture_output=True,
        text=True,
    )
    assert checked.returncode == 0, checked.stderr
    async with web_server(b, "proxied"):
        proxy = await asyncio.create_subprocess_exec(
            nginx, "-c", str(conf), "-e", str(tmp_path / "error.log"), "-g", "daemon off;"
        )
        try:
            bills = {"Host": "bills.telebill.example"}
            async with httpx.AsyncClient(
                base_url=f"https://127.0.0.1:{https}", verify=False, headers=bills, timeout=30
            ) as phone:
                page = await first_answer(phone, path, proxy, tmp_path / "error.log")
                assert page.status_code == 200 and "납부하실 금액" in page.text
                assert "max-age" in page.headers["strict-transport-security"]
                refusal = await phone.get("/api/health", headers={"Authorization": "Bearer x"})
                assert refusal.status_code == 404 and "청구서를 열 수 없습니다" in refusal.text
                admin = await phone.get(path, headers={"Host": "telebill.example.com"})
                assert admin.status_code == 502  # the API's server, not the page
                spoofed = [
                    (await phone.get(path, headers={"X-Forwarded-For": f"192.0.2.{n}"})).status_code
                    for n in range(2, 12)
                ]
                assert spoofed[-1] == 429, spoofed  # one address behind the proxy: its own limit
            async with httpx.AsyncClient() as plain:
                moved = await plain.get(f"http://127.0.0.1:{http}{path}", headers=bills)
            assert moved.status_code == 301
        finally:
            proxy.terminate()
            await proxy.wait()
    access = (tmp_path / "telebill-web.access.log").read_text()
    assert '"GET /b/T" 200' in access and '"GET /other" 404' in access
    token = path.removeprefix(PAGE_PATH)
    assert token[:16] not in access and "192.0.2" not in access and "127.0.0.1" not in access
    await b.conn.close()


async def test_the_proxys_limit_takes_an_ipv6_client_by_its_64(tmp_path: Path) -> None:
    """The shipped map, in an Nginx of its own that answers with the key the page's limit_req
    zone counts by: an IPv4 client's 4 bytes, an IPv6 client's first 8 (its /64), so that
    rotating through a /64 gets no more. Only ::1 is at hand, whose /64 is 8 zero bytes."""
    nginx = shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin")
    if nginx is None:
        pytest.fail("nginx missing: `make test` installs it (scripts/system-deps.sh)")
    shipped = CONF.read_text()
    assert "limit_req_zone $telebill_web_client zone=telebill_web:" in shipped
    block = re.search(
        r"^map \$binary_remote_addr \$telebill_web_client \{.*?^\}$", shipped, re.M | re.S
    )
    assert block is not None, "the page's zone is keyed by a map of $binary_remote_addr"
    port = free_low_ports(1)
    conf = tmp_path / "key.conf"
    temp = "".join(
        f"{kind}_temp_path {tmp_path / kind};"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    conf.write_text(
        f"pid {tmp_path / 'nginx.pid'};\nevents {{}}\nhttp {{\n    access_log off;\n    {temp}\n"
        f"{block.group(0)}\n"
        f"    server {{\n        listen 127.0.0.1:{port};\n        listen [::1]:{port};\n"
        "        location / { return 200 $telebill_web_client; }\n    }\n}\n"
    )
    errors = tmp_path / "error.log"
    proxy = await asyncio.create_subprocess_exec(
        nginx, "-c", str(conf), "-e", str(errors), "-g", "daemon off;"
    )
    try:
        keys = {}
        for host in ("127.0.0.1", "[::1]"):
            async with httpx.AsyncClient(base_url=f"http://{host}:{port}") as client:
                keys[host] = (await first_answer(client, "/", proxy, errors)).content
    finally:
        proxy.terminate()
        await proxy.wait()
    assert keys == {"127.0.0.1": bytes([127, 0, 0, 1]), "[::1]": bytes(8)}
