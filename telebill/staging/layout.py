"""The staging installation's shape: its folder, ports and settings, and its roles, one process
each as in docker-compose.yml (a worker per task queue, a consumer service per channel under
`--scale auto`, the API and the bill page), with the ports Prometheus scrapes them on."""

from __future__ import annotations

import os
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from telebill.config import PROJECT_ROOT
from telebill.credentials import ensure_link_key

# Ports below the kernel's ephemeral range (32768 and up): a role started again after a fault
# must find its port free, and a client connection may take any port of that range as its own
# (the runbook's rehearsal once found 59505 taken so). Apart from the main stack's, from the
# tests' production servers (26233, 27233: up to +706) and from the benchmarks' (27433, 27533).
PG_PORT = 30432
KAFKA_PORT = 30092  # nodes on 30092, 30094, 30096; their controllers one above each
TEMPORAL_PORT = 30233  # and +1, +2, +6, +10
TEMPORAL_MEMBERSHIP_PORT = 28933
API_PORT = 30480  # loopback, behind Nginx
WEB_PORT = 30481
HTTPS_PORT = 30443  # Nginx: the API's host name and the bill page's
HTTP_PORT = 30088  # Nginx: redirects to https (port 443 of the same host)
PROMETHEUS_PORT = 30490
API_HOST = "telebill.example.com"
WEB_HOST = "bills.telebill.example"


class Infrastructure(StrEnum):
    """What the roles run on. The dev one is what `make demo` and the benchmarks run on: the
    roles, Nginx and the month are the same on both, the servers differ (and with them what a
    broker's kill means: one of three, or all of Kafka for the while)."""

    PRODUCTION = "production"  # the production Temporal server (mTLS), three brokers
    DEV = "dev"  # the dev Temporal server (SQLite, plaintext), one broker


INFRASTRUCTURE_SETTINGS: dict[Infrastructure, dict[str, str]] = {
    Infrastructure.PRODUCTION: {
        "TELEBILL_TEMPORAL_SERVER": "production",
        "TELEBILL_TEMPORAL_SERVER_MTLS": "true",
        "TELEBILL_KAFKA_BROKERS": "3",
        "TELEBILL_KAFKA_REPLICATION_FACTOR": "3",
    },
    Infrastructure.DEV: {
        "TELEBILL_TEMPORAL_SERVER": "dev",
        "TELEBILL_TEMPORAL_SERVER_MTLS": "false",
        "TELEBILL_KAFKA_BROKERS": "1",
        "TELEBILL_KAFKA_REPLICATION_FACTOR": "1",
    },
}


def describe(infrastructure: Infrastructure) -> str:
    if infrastructure is Infrastructure.DEV:
        return "PostgreSQL, one Kafka broker, the Temporal dev server"
    return "PostgreSQL, three Kafka brokers, the production Temporal server"


# Settings an operator may tune for a trial (kept when set in the environment); the rest of
# the staging settings are the layout's own. The retry ladder is compressed (5 s, doubling,
# instead of 30 s times 4: the fifth tier 80 s instead of 2 h 8 min) so that a rehearsed month
# ends within its hour, the last failed e-mails included; the tiers themselves are the same.
TUNABLE = {
    "TELEBILL_TEMPORAL_HISTORY_SHARDS": "4",
    "TELEBILL_TEMPORAL_PERSISTENCE_CONNS": "20",
    "TELEBILL_TEMPORAL_VISIBILITY_CONNS": "10",
    "TELEBILL_NOTIFY_START_HORIZON_H": "36",
    "TELEBILL_RETRY_BASE_DELAY_S": "5",
    "TELEBILL_RETRY_FACTOR": "2",
}


@dataclass(frozen=True)
class Role:
    """One long-running process of the installation, started as `telebill <argv>`."""

    name: str
    argv: tuple[str, ...]
    port: int  # its metrics and /healthz (workers, consumers) or its HTTP port (API, page)
    slots: int = 0  # --scale auto: the most processes, each on port + n (n = 1…slots)
    health: str = "/healthz"  # the path its probe asks (200: healthy)

    @property
    def serves_http(self) -> bool:
        return self.argv[-1] == "serve"

    @property
    def ports(self) -> list[int]:
        """Every port it listens on: its own, its processes' (port + n), a worker's SDK one."""
        extra = 1 if self.argv[0] == "worker" else self.slots
        return [self.port + n for n in range(extra + 1)]


SUFFIX = "-staging"


def folder(base_stack_dir: Path) -> Path:
    """The staging installation's folder, beside the main stack's (.stack → .stack-staging);
    itself when the stack's folder already is it (`eval "$(telebill staging env)"`)."""
    if base_stack_dir.name.endswith(SUFFIX):
        return base_stack_dir
    return base_stack_dir.with_name(base_stack_dir.name + SUFFIX)


def tuned_now() -> dict[str, str]:
    """The TUNABLE settings as this environment sets them (else the layout's)."""
    return {k: os.environ.get(k, v) for k, v in TUNABLE.items()}


def settings_env(
    root: Path,
    clock_offset_s: float = 0.0,
    tuned: dict[str, str] | None = None,
    infrastructure: Infrastructure = Infrastructure.PRODUCTION,
) -> dict[str, str]:
    """The TELEBILL_* settings every process of the installation gets (each derives its own
    database role's URL from the installation's folder). The bill links are published at a
    host name of their own, so the processes share one key: generated into the folder once."""
    return (
        (tuned or tuned_now())
        | INFRASTRUCTURE_SETTINGS[infrastructure]
        | {
            "TELEBILL_STACK_DIR": str(root),
            "TELEBILL_PG_PORT": str(PG_PORT),
            "TELEBILL_KAFKA_PORT": str(KAFKA_PORT),
            "TELEBILL_KAFKA_CONTROLLER_PORT": str(KAFKA_PORT + 1),
            "TELEBILL_TEMPORAL_PORT": str(TEMPORAL_PORT),
            "TELEBILL_TEMPORAL_UI_PORT": str(TEMPORAL_PORT + 1000),
            "TELEBILL_TEMPORAL_MEMBERSHIP_PORT": str(TEMPORAL_MEMBERSHIP_PORT),
            "TELEBILL_API_HOST": "127.0.0.1",
            "TELEBILL_API_PORT": str(API_PORT),
            "TELEBILL_API_TRUSTED_PROXIES": "127.0.0.1",
            "TELEBILL_WEB_HOST": "127.0.0.1",
            "TELEBILL_WEB_PORT": str(WEB_PORT),
            "TELEBILL_WEB_TRUSTED_PROXIES": "127.0.0.1",
            "TELEBILL_WEB_BASE_URL": f"https://{WEB_HOST}",
            "TELEBILL_WEB_LINK_KEY": ensure_link_key(root),
            "TELEBILL_METRICS_HOST": "127.0.0.1",
            "TELEBILL_CLOCK_OFFSET_S": repr(clock_offset_s),
        }
    )


# Read by the settings besides the TELEBILL_* names (telebill/settings/).
UNPREFIXED = ("DATABASE_URL", "KAFKA_BOOTSTRAP_SERVERS")


def without_settings(env: dict[str, str]) -> dict[str, str]:
    """`env` without the installation settings it holds (the operator's TUNABLE ones kept)."""
    return {
        k: v
        for k, v in env.items()
        if k in TUNABLE or not (k.startswith(("TELEBILL_", "TEMPORAL_")) or k in UNPREFIXED)
    }


def roles() -> list[Role]:
    """docker-compose.yml's services that run Telebill, with their ports on this machine."""
    workers = [
        Role(f"worker-{queue}", ("worker", "--queues", queue), 30500 + 2 * i)  # SDK's on +1
        for i, queue in enumerate(("settlement", "dispatch", "notification"))
    ]
    consumers = [
        Role(
            f"consumer-{kind}",
            ("consume", kind, "--scale", "auto", "--min", "1", "--max", str(most)),
            port,
            slots=most,
        )
        for kind, port, most in (("email", 30510, 4), ("sms", 30520, 2), ("dlq", 30530, 2))
    ]
    front = [
        Role("api", ("api", "serve"), API_PORT, health="/api/health"),
        Role("web", ("web", "serve"), WEB_PORT),
    ]
    return [*workers, *consumers, *front]


def deploy_file(*parts: str) -> Path:
    """A file of the repository's deploy/ folder (the staging layout runs from a checkout)."""
    path = PROJECT_ROOT.joinpath("deploy", *parts)
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing: run the staging layout from a checkout")
    return path
