"""The production Temporal server, the same binary and schema as a production cluster: built
once from the Go module proxy into the stack's cache (`go install`), its persistence and
visibility in the stack's PostgreSQL, a few history shards. `TELEBILL_TEMPORAL_SERVER=production`
makes `telebill stack up` run it instead of the dev server. No Web UI of its own."""

from __future__ import annotations

import asyncio
import os
import shutil
import sys
from datetime import timedelta
from pathlib import Path

import yaml
from google.protobuf.duration_pb2 import Duration
from temporalio.api.workflowservice.v1 import (
    DescribeNamespaceRequest,
    RegisterNamespaceRequest,
)
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from telebill.config import Settings
from telebill.db import cluster_admin
from telebill.stack import postgres
from telebill.stack.certs import MutualTls, mutual_tls
from telebill.stack.postgres import Postgres
from telebill.stack.process import StackError, run_checked, spawn, wait_until
from telebill.stack.temporal import Temporal, ensure_search_attributes
from telebill.temporal_client import stack_tls_folder

MODULE = "go.temporal.io/server"
GO_PLACES = ("/usr/local/go/bin/go", "/usr/lib/go/bin/go")
DATABASES = {"temporal": "temporal", "temporal_visibility": "visibility"}  # name: schema folder


def go_binary() -> str:
    found = shutil.which("go") or next((p for p in GO_PLACES if Path(p).exists()), None)
    if found is None:
        raise StackError("Go not found; it builds the production Temporal server once (golang)")
    return found


class TemporalServer(Temporal):
    """Same name, address and search attributes as the dev server; another process, and a
    folder of its own (`temporal-server`), so the dev server's data stays for a switch back."""

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings)
        self.dir = settings.stack_dir / "temporal-server"
        self.pid_file = self.dir / "pid"
        self.log_file = self.dir / "temporal-server.log"

    @property
    def ports(self) -> list[int]:
        p, m = self.settings.temporal_port, self.settings.temporal_membership_port
        return [p, p + 1, p + 2, p + 6, p + 10, m, m + 1, m + 2, m + 6]

    @property
    def bin_dir(self) -> Path:
        return (
            self.settings.stack_dir
            / "cache"
            / f"temporal-server-{self.settings.temporal_server_version}"
        )

    def build(self) -> Path:
        """`server` and `sql` (the schema tool) of the pinned version, built once."""
        if (self.bin_dir / "server").exists() and (self.bin_dir / "sql").exists():
            return self.bin_dir
        version = self.settings.temporal_server_version
        staging = self.bin_dir.with_name(self.bin_dir.name + ".partial")
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(parents=True)
        print(
            f"building the Temporal server {version} from the Go module proxy "
            "(once, into the stack's cache; several minutes)…",
            file=sys.stderr,
            flush=True,
        )
        run_checked(
            [go_binary(), "install", f"{MODULE}/cmd/server@{version}",
             f"{MODULE}/cmd/tools/sql@{version}"],
            what=f"building the Temporal server {version}",
            env=os.environ | {"GOBIN": str(staging), "GOFLAGS": "-mod=mod", "CGO_ENABLED": "0"},
        )  # fmt: skip
        staging.rename(self.bin_dir)
        return self.bin_dir

    def schema_dir(self) -> Path:
        cache = run_checked([go_binary(), "env", "GOMODCACHE"], what="finding Go's module cache")
        found = Path(cache.strip()) / f"{MODULE}@{self.settings.temporal_server_version}"
        return found / "schema" / "postgresql" / "v12"

    def db_password(self) -> str:
        # The server connects as the stack's superuser (its schema tool creates and alters
        # tables in its two databases); the application's roles never reach those databases.
        return postgres.Postgres(self.settings).passwords()[postgres.SUPERUSER]

    async def create_databases(self) -> None:
        admin = await postgres.Postgres(self.settings).admin()
        try:
            for db in DATABASES:
                if not await cluster_admin.database_exists(admin, db):
                    await cluster_admin.create_database(admin, db)
        finally:
            await admin.close()

    def setup_schema_sync(self) -> None:
        """Both databases' schemas, set up once and brought to this version at each start."""
        s = self.settings
        tool = str(self.build() / "sql")
        for db, folder in DATABASES.items():
            base = [
                tool, "--plugin", "postgres12", "--ep", "127.0.0.1", "--port", str(s.pg_port),
                "--user", postgres.SUPERUSER, "--password", self.db_password(), "--db", db,
            ]  # fmt: skip
            marker = self.dir / f"{db}.schema"
            if not marker.exists():
                run_checked([*base, "setup-schema", "-v", "0.0"], what=f"the schema of {db}")
                marker.touch()
            run_checked(
                [*base, "update-schema", "-d", str(self.schema_dir() / folder / "versioned")],
                what=f"updating the schema of {db}",
            )

    def write_config(self) -> Path:
        s = self.settings
        p, m = s.temporal_port, s.temporal_membership_port
        store = {
            "pluginName": "postgres12",
            "connectAddr": f"127.0.0.1:{s.pg_port}",
            "connectProtocol": "tcp",
            "user": postgres.SUPERUSER,
            "password": self.db_password(),
            "maxConnLifetime": "1h",
        }

        def service(grpc: int, membership: int, http: int | None = None) -> dict[str, object]:
            rpc: dict[str, object] = {
                "grpcPort": grpc,
                "membershipPort": membership,
                "bindOnLocalHost": True,
            }
            if http:
                rpc["httpPort"] = http
            return {"rpc": rpc}

        config = {
            "log": {"stdout": True, "level": "warn"},
            "persistence": {
                "defaultStore": "default",
                "visibilityStore": "visibility",
                "numHistoryShards": s.temporal_history_shards,
                "datastores": {
                    "default": {
                        "sql": {
                            **store,
                            "databaseName": "temporal",
                            "maxConns": s.temporal_persistence_conns,
                            "maxIdleConns": s.temporal_persistence_conns,
                        }
                    },
                    "visibility": {
                        "sql": {
                            **store,
                            "databaseName": "temporal_visibility",
                            "maxConns": s.temporal_visibility_conns,
                            "maxIdleConns": s.temporal_visibility_conns,
                        }
                    },
                },
            },
            "global": {
                "membership": {"maxJoinDuration": "30s", "broadcastAddress": "127.0.0.1"},
                **(
                    {"tls": global_tls(mutual_tls(stack_tls_folder(s)))}
                    if s.temporal_server_mtls
                    else {}
                ),
            },
            "services": {
                "frontend": service(p, m, p + 10),
                "history": service(p + 1, m + 1),
                "matching": service(p + 2, m + 2),
                "worker": service(p + 6, m + 6),
            },
            "clusterMetadata": {
                "enableGlobalNamespace": False,
                "failoverVersionIncrement": 10,
                "masterClusterName": "active",
                "currentClusterName": "active",
                "clusterInformation": {
                    "active": {
                        "enabled": True,
                        "initialFailoverVersion": 1,
                        "rpcName": "frontend",
                        "rpcAddress": f"127.0.0.1:{p}",
                    }
                },
            },
            "dcRedirectionPolicy": {"policy": "noop"},
            "dynamicConfigClient": {
                "filepath": str(self.dir / "dynamicconfig.yaml"),
                "pollInterval": "10s",
            },
        }
        folder = self.dir / "config"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "production.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
        dynamic = self.dir / "dynamicconfig.yaml"
        if not dynamic.exists():
            dynamic.write_text("# dynamic configuration of the production Temporal server\n{}\n")
        return folder

    async def _start(self) -> None:
        s = self.settings
        server = await asyncio.to_thread(lambda: self.build() / "server")
        self.dir.mkdir(parents=True, exist_ok=True)
        # `stack up` starts the services at once: the schema needs PostgreSQL up first
        await wait_until(Postgres(s).answers, within=s.start_timeout_s, what="PostgreSQL")
        await self.create_databases()
        await asyncio.to_thread(self.setup_schema_sync)
        if s.temporal_server_mtls:  # made once; write_config only names them
            await asyncio.to_thread(mutual_tls, stack_tls_folder(s))
        config = self.write_config()
        argv = [str(server), "--root", str(self.dir), "--config", config.name,
                "--env", "production", "--allow-no-auth", "start"]  # fmt: skip
        proc = spawn(argv, log_file=self.log_file, pid_file=self.pid_file, cwd=self.dir)
        await wait_until(
            self.answers,
            within=s.start_timeout_s,
            what="Temporal",
            proc=proc,
            log_file=self.log_file,
        )

    async def after_start(self) -> None:
        client = await self._client()
        s = self.settings
        await ensure_namespace(client, s.temporal_namespace, s.temporal_retention_days)

        async def attributes() -> bool:
            # A new namespace reaches the frontend's cache within seconds; until then the
            # attributes are refused as for an unknown namespace.
            await ensure_search_attributes(client, s.temporal_namespace)
            return True

        await wait_until(attributes, within=s.start_timeout_s, what="the Temporal namespace")


def global_tls(tls: MutualTls, server_name: str = "localhost") -> dict[str, object]:
    """The server's `global.tls`: mutual TLS on the frontend (what clients dial) and between
    its own services (history, matching, worker), all with certificates of one CA. The
    services' own clients of the frontend show the internode certificate, which is why it
    may also act as a client."""
    group = {
        "server": {
            "certFile": str(tls.server.cert),
            "keyFile": str(tls.server.key),
            "requireClientAuth": True,
            "clientCaFiles": [str(tls.ca.cert)],
        },
        "client": {"serverName": server_name, "rootCaFiles": [str(tls.ca.cert)]},
    }
    return {"internode": group, "frontend": group}


async def ensure_namespace(client: Client, namespace: str, retention_days: int) -> None:
    try:
        await client.workflow_service.describe_namespace(
            DescribeNamespaceRequest(namespace=namespace)
        )
        return
    except RPCError as exc:
        if exc.status != RPCStatusCode.NOT_FOUND:
            raise
    retention = Duration()
    retention.FromTimedelta(timedelta(days=retention_days))
    await client.workflow_service.register_namespace(
        RegisterNamespaceRequest(namespace=namespace, workflow_execution_retention_period=retention)
    )
