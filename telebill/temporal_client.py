"""The one way telebill connects to Temporal: the address, namespace and TLS of Settings.

A real deployment's frontend asks for mutual TLS (each client shows a certificate of a CA the
frontend trusts), so every process — worker, consumers, API, CLI — connects here rather than
calling `Client.connect` with an address alone; a setting added here reaches all of them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from temporalio.client import Client
from temporalio.service import TLSConfig

from telebill.config import Settings

# Where `telebill stack up` puts the certificates of a local production server with mTLS
# (TELEBILL_TEMPORAL_SERVER_MTLS): its CA and a client certificate of that CA.
STACK_TLS_FOLDER = Path("temporal-server") / "tls"


def stack_tls_folder(settings: Settings) -> Path:
    return settings.stack_dir / STACK_TLS_FOLDER


def _read(path: Path | None, what: str) -> bytes | None:
    if path is None:
        return None
    try:
        return path.read_bytes()
    except OSError as exc:
        # The setting's name in the message: a missing file is a deployment error, and the
        # bare OSError would not say which of the TLS files it was.
        raise RuntimeError(f"Temporal TLS: cannot read the {what} {path}: {exc}") from None


def tls_config(settings: Settings) -> TLSConfig | None:
    """The TLS of the connection, or None for plaintext (the local dev server's way)."""
    s = settings
    cert, key, ca = s.temporal_tls_client_cert, s.temporal_tls_client_key, s.temporal_tls_server_ca
    if s.temporal_server_mtls and s.temporal_address is None and not (cert or key or ca):
        # The local stack's own production server with mTLS: the certificates it made at
        # `stack up`, so that every process of the stack connects without more settings.
        folder = stack_tls_folder(s)
        cert, key, ca = folder / "client.pem", folder / "client.key", folder / "ca.pem"
    if not (s.temporal_tls or cert or key or ca):
        return None
    return TLSConfig(
        client_cert=_read(cert, "client certificate (TELEBILL_TEMPORAL_TLS_CLIENT_CERT)"),
        client_private_key=_read(key, "client key (TELEBILL_TEMPORAL_TLS_CLIENT_KEY)"),
        # None: the system's roots (a frontend behind a publicly trusted certificate)
        server_root_ca_cert=_read(ca, "server CA (TELEBILL_TEMPORAL_TLS_SERVER_CA)"),
        domain=s.temporal_tls_server_name,
    )


async def connect_client(settings: Settings, **options: Any) -> Client:
    """A client of the installation's Temporal (namespace and TLS from Settings); `options`
    go to `Client.connect` as they are (a runtime, interceptors)."""
    tls = tls_config(settings)
    return await Client.connect(
        settings.temporal_target,
        namespace=settings.temporal_namespace,
        tls=tls if tls is not None else False,
        **options,
    )
