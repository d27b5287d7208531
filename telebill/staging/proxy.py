"""Nginx for a trial on one machine: deploy/nginx/telebill.conf as shipped, with only its ports,
certificate paths and log paths moved into a folder of its own, and a self-signed certificate
for its two host names."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from telebill.stack.process import StackError, run_checked

SHIPPED_API, SHIPPED_WEB = "127.0.0.1:58080", "127.0.0.1:58081"


def nginx_binary() -> str:
    found = shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin")
    if found is None:
        raise StackError("nginx is missing: `make deps` installs it (scripts/system-deps.sh)")
    return found


def certificate(folder: Path, days: int = 30) -> None:
    """A self-signed certificate where the configuration expects it. The key stays 0600:
    nginx's master process reads it before its workers drop to another user."""
    folder.chmod(0o755)
    run_checked(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", str(days),
         "-subj", "/CN=telebill.example.com",
         "-addext", "subjectAltName=DNS:telebill.example.com,DNS:bills.telebill.example",
         "-keyout", str(folder / "telebill.key"), "-out", str(folder / "telebill.crt")],
        what="making the proxy's certificate",
    )  # fmt: skip
    (folder / "telebill.key").chmod(0o600)


def proxy_conf(
    conf: Path, folder: Path, https: int, http: int, api: int, web: int | None = None
) -> Path:
    """`conf` (deploy/nginx/telebill.conf) on loopback ports, its certificate and logs in
    `folder`, its upstreams on `api` and `web` (left as shipped when None); returns the main
    configuration file that includes it."""
    site = conf.read_text()
    moves = [
        ("listen 443 ", f"listen 127.0.0.1:{https} "),
        ("listen 80;", f"listen 127.0.0.1:{http};"),
        (SHIPPED_API, f"127.0.0.1:{api}"),
        ("/etc/nginx/certs", str(folder)),
        ("/var/log/nginx", str(folder)),
    ]
    if web is not None:
        moves.append((SHIPPED_WEB, f"127.0.0.1:{web}"))
    for shipped, here in moves:
        if shipped not in site:
            raise StackError(f"{conf} no longer holds {shipped!r}: the trial cannot move it")
        site = site.replace(shipped, here)
    main = folder / "nginx.conf"
    main.write_text(
        f"worker_processes 1;\npid {folder}/nginx.pid;\nerror_log {folder}/error.log;\n"
        f"events {{}}\nhttp {{\n{site}\n}}\n"
    )
    return main


def check_conf(main: Path, folder: Path) -> None:
    """`nginx -t`: a configuration it would refuse is a one-line StackError."""
    done = subprocess.run(
        [nginx_binary(), "-t", "-c", str(main), "-e", str(folder / "error.log")],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        lines = done.stderr.strip().splitlines()
        raise StackError(f"nginx refuses {main}: {lines[-1] if lines else done.returncode}")


def nginx_argv(main: Path, folder: Path) -> list[str]:
    return [nginx_binary(), "-c", str(main), "-e", str(folder / "error.log"), "-g", "daemon off;"]
