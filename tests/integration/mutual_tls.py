"""A TLS front for a plaintext gRPC server that requires a client certificate: what a Temporal
frontend with mTLS (`global.tls.frontend.server.requireClientAuth`) does at the handshake, in
front of the dev server, which has no TLS options of its own.

gRPC over TLS is HTTP/2 negotiated by ALPN; past the handshake the bytes are the same HTTP/2
the dev server speaks in plaintext, so they are copied as they are.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from temporalio.api.workflowservice.v1 import GetSystemInfoRequest

from telebill.config import Settings
from telebill.stack.certs import MutualTls, Pair
from telebill.temporal_client import connect_client


@dataclass
class MtlsProxy:
    port: int
    refusals: list[str] = field(default_factory=list)  # why each refused handshake failed
    accepted: int = 0


def server_context(tls: MutualTls) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(tls.server.cert, tls.server.key)
    ctx.load_verify_locations(tls.ca.cert)
    ctx.verify_mode = ssl.CERT_REQUIRED  # no certificate of this CA: no connection
    ctx.set_alpn_protocols(["h2"])
    return ctx


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, ssl.SSLError):
        pass
    finally:
        with contextlib.suppress(Exception):
            writer.close()


@asynccontextmanager
async def mtls_proxy(
    listen_port: int, target_port: int, tls: MutualTls
) -> AsyncIterator[MtlsProxy]:
    ctx = server_context(tls)
    proxy = MtlsProxy(listen_port)
    tasks: set[asyncio.Task[None]] = set()

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            # The handshake here rather than in start_server, so that its failure is seen
            # (and its reason recorded) instead of only logged by the event loop.
            await writer.start_tls(ctx)
        except (ssl.SSLError, ConnectionError, TimeoutError) as exc:
            proxy.refusals.append(str(exc))
            writer.close()
            return
        proxy.accepted += 1
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", target_port)
        both = [
            asyncio.create_task(_pipe(reader, up_writer)),
            asyncio.create_task(_pipe(up_reader, writer)),
        ]
        tasks.update(both)
        # return_exceptions: a pipe cancelled at the proxy's end is not this task's error
        await asyncio.gather(*both, return_exceptions=True)
        tasks.difference_update(both)

    server = await asyncio.start_server(serve, "127.0.0.1", listen_port)
    try:
        yield proxy
    finally:
        server.close()
        for task in list(tasks):
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


def client_settings(base: Settings, address: str, tls: MutualTls, client: Pair | None) -> Settings:
    """An installation that dials `address` trusting `tls`'s CA, showing `client` (or no
    certificate at all)."""
    return base.model_copy(
        update={
            "temporal_address": address,
            "temporal_server_mtls": False,
            "temporal_tls_client_cert": client.cert if client else None,
            "temporal_tls_client_key": client.key if client else None,
            "temporal_tls_server_ca": tls.ca.cert,
        }
    )


async def refused(settings: Settings) -> str:
    """The error of a client that the server turns away at the handshake."""
    try:
        client = await connect_client(settings)
        await client.workflow_service.get_system_info(GetSystemInfoRequest())
    except RuntimeError as exc:  # the SDK's "Failed client connect: …"
        return str(exc)
    raise AssertionError(f"{settings.temporal_target} let the client in")
