"""Certificates for trying mutual TLS locally: a CA of the stack's own, a server certificate
for 127.0.0.1/localhost and a client certificate, all signed by it.

Made with the `openssl` command (on every Debian and in the Python images: `ca-certificates`
depends on it), since the `cryptography` package is not among the project's dependencies and
this is only for local trials; a deployment brings certificates from its own CA. Keys are
written 0600 from the start (never readable by others, not even for a moment), P-256 keys,
valid for a year.
"""

from __future__ import annotations

import os
import secrets
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from telebill.stack.process import StackError, run_checked

DAYS = 365


@dataclass(frozen=True)
class Pair:
    cert: Path
    key: Path


@dataclass(frozen=True)
class MutualTls:
    """What a server with mTLS and one of its clients need."""

    ca: Pair
    server: Pair
    client: Pair


def _openssl() -> str:
    found = shutil.which("openssl")
    if found is None:
        raise StackError("openssl not found; it makes the local TLS certificates (apt openssl)")
    return found


def _write_private(path: Path, data: str) -> None:
    path.unlink(missing_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(data)


def _new_key(path: Path) -> None:
    pem = run_checked(
        [_openssl(), "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"],
        what="making a TLS key",
    )  # to stdout, so the file is 0600 before a byte of the key is in it
    _write_private(path, pem)


def make_ca(folder: Path, name: str) -> Pair:
    folder.mkdir(parents=True, exist_ok=True)
    ca = Pair(folder / f"{name}.pem", folder / f"{name}.key")
    _new_key(ca.key)
    run_checked(
        [_openssl(), "req", "-new", "-x509", "-key", str(ca.key), "-out", str(ca.cert),
         "-days", str(DAYS), "-subj", f"/CN={name}",
         "-addext", "basicConstraints=critical,CA:TRUE",
         "-addext", "keyUsage=critical,keyCertSign,cRLSign"],
        what="making a TLS CA",
    )  # fmt: skip
    return ca


def issue(ca: Pair, folder: Path, name: str, *, server: bool) -> Pair:
    """A certificate of `ca`. A server's is for 127.0.0.1 and localhost and may also act as a
    client (a Temporal server's services dial one another with it)."""
    pair = Pair(folder / f"{name}.pem", folder / f"{name}.key")
    _new_key(pair.key)
    usage = "serverAuth,clientAuth" if server else "clientAuth"
    ext = [
        "basicConstraints=critical,CA:FALSE",
        "keyUsage=critical,digitalSignature,keyEncipherment",
        f"extendedKeyUsage={usage}",
    ]
    if server:
        ext.append("subjectAltName=IP:127.0.0.1,DNS:localhost")
    with tempfile.TemporaryDirectory() as scratch:
        csr, extfile = Path(scratch) / "req.csr", Path(scratch) / "ext.cnf"
        extfile.write_text("\n".join(ext) + "\n")
        run_checked(
            [_openssl(), "req", "-new", "-key", str(pair.key), "-subj", f"/CN={name}",
             "-out", str(csr)],
            what=f"the signing request of {name}",
        )  # fmt: skip
        run_checked(
            [_openssl(), "x509", "-req", "-in", str(csr), "-CA", str(ca.cert),
             "-CAkey", str(ca.key), "-set_serial", f"0x{secrets.token_hex(16)}",
             "-days", str(DAYS), "-extfile", str(extfile), "-out", str(pair.cert)],
            what=f"signing the certificate of {name}",
        )  # fmt: skip
    return pair


def mutual_tls(folder: Path, *, fresh: bool = False) -> MutualTls:
    """The CA, server and client certificates in `folder`, made once (`fresh`: anew)."""
    made = MutualTls(
        ca=Pair(folder / "ca.pem", folder / "ca.key"),
        server=Pair(folder / "server.pem", folder / "server.key"),
        client=Pair(folder / "client.pem", folder / "client.key"),
    )
    paths = [p for pair in (made.ca, made.server, made.client) for p in (pair.cert, pair.key)]
    if not fresh and all(p.exists() for p in paths):
        return made
    folder.mkdir(parents=True, exist_ok=True)
    folder.chmod(0o700)
    ca = make_ca(folder, "ca")
    issue(ca, folder, "server", server=True)
    issue(ca, folder, "client", server=False)
    return made
