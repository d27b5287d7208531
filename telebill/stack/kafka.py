"""Apache Kafka 4.x in KRaft mode, one node or a cluster of nodes on loopback (each a broker and
a controller): jars resolved once by Maven, run with Java 17+."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import signal
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

from aiokafka.admin import AIOKafkaAdminClient

from telebill.domain.chain import chain_channels
from telebill.errors import TelebillError
from telebill.messaging.kafka_auth import kafka_client_kwargs, local_credentials_file
from telebill.stack.kafka_node import KafkaNode, find_java, kafka_uuid
from telebill.stack.kafka_sasl import (
    admin_kwargs,
    application_acls,
    broker_properties,
    create_acls,
    ensure_credentials,
    format_arguments,
)
from telebill.stack.kafka_topics import ensure_topics
from telebill.stack.process import (
    StackError,
    claim_ports,
    port_answers,
    run_checked,
    spawn,
    stop_pid,
    wait_until,
)
from telebill.stack.service import Service, ServiceStatus

POM = Path(__file__).with_name("kafka-pom.xml")


@contextlib.contextmanager
def quiet_kafka_logs() -> Iterator[None]:
    """aiokafka logs every refused connection at ERROR; while probing, a refusal is expected."""
    logger = logging.getLogger("aiokafka")
    level = logger.level
    logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        logger.setLevel(level)


class Kafka(Service):
    name = "kafka"
    env_var = "KAFKA_BOOTSTRAP_SERVERS"

    @property
    def external(self) -> bool:
        return self.settings.kafka_bootstrap_servers is not None

    @property
    def address(self) -> str:
        return self.settings.kafka_servers

    @property
    def nodes(self) -> list[KafkaNode]:
        s = self.settings
        if s.kafka_brokers == 1:  # the folder a single node always had
            return [KafkaNode(1, self.dir, s.kafka_port, s.kafka_controller_port)]
        return [
            KafkaNode(n + 1, self.dir / f"node-{n + 1}", s.kafka_port + 2 * n,
                      s.kafka_controller_port + 2 * n)
            for n in range(s.kafka_brokers)
        ]  # fmt: skip

    @property
    def ports(self) -> list[int]:
        return [p for node in self.nodes for p in (node.port, node.controller_port)]

    @property
    def marker(self) -> str:
        return self.nodes[0].marker

    def pid(self) -> int | None:
        """The first node's process (a single node's, or the cluster's node 1)."""
        return self.nodes[0].pid()

    @property
    def sasl(self) -> bool:
        """This stack runs its own Kafka with SASL/SCRAM and ACLs."""
        return self.settings.kafka_sasl and not self.external

    def client(self) -> dict[str, Any]:
        """Client arguments for the stack's own admin work: the local super user with SASL,
        else the application's (an external Kafka: the installation's principal creates its
        topics, which its ACLs allow)."""
        return admin_kwargs(self.settings) if self.sasl else kafka_client_kwargs(self.settings)

    @property
    def libs_dir(self) -> Path:
        # Outside the service folder so `down --purge` keeps the resolved jars.
        return self.settings.stack_dir / "cache" / f"kafka-{self.settings.kafka_version}" / "libs"

    async def brokers(self) -> set[int]:
        """The ids of the brokers the cluster reports (none: it does not answer)."""
        try:
            client = self.client()
        except TelebillError:  # SASL on, and no credentials yet: never started with it
            return set()
        admin = AIOKafkaAdminClient(**client, request_timeout_ms=5000)
        with quiet_kafka_logs():
            try:
                await admin.start()
                return {b["node_id"] for b in (await admin.describe_cluster())["brokers"]}
            except Exception:
                return set()
            finally:
                with contextlib.suppress(Exception):
                    await admin.close()

    async def answers(self) -> bool:
        return bool(await self.brokers())

    async def status(self) -> ServiceStatus:
        status = await super().status()
        if self.external or len(self.nodes) == 1:
            return status
        up = await self.brokers()
        return replace(status, detail=f"{len(up)} of {len(self.nodes)} brokers answer")

    async def up(self) -> str:
        """Start whichever nodes are not running (all of them, or one a fault took down), wait
        until every broker has joined, then make sure the topics exist."""
        if self.external:
            return await super().up()
        other = self.other_layout()
        if other is not None:
            raise StackError(
                f"this stack's Kafka runs as {other} (pid {self.other_pid()}); "
                "`telebill stack down --only kafka` first, then up with "
                f"TELEBILL_KAFKA_BROKERS={self.settings.kafka_brokers}"
            )
        down = [n for n in self.nodes if n.pid() is None]
        if not down:
            if await self.answers():
                await self.after_start()
                return f"already running on {self.address} (pid {self.pid()})"
            raise StackError(
                f"Kafka is running but does not answer on {self.address} "
                f"(see {self.nodes[0].log_file}; `telebill stack down` stops it)"
            )
        claim_ports([p for node in down for p in (node.port, node.controller_port)])
        try:
            await self._start_nodes(down)
        except BaseException:
            for node in down:  # nothing half-started: the next `up` starts from a clean slate
                if (pid := node.pid()) is not None:
                    stop_pid(pid, node.marker)
            raise
        await self.after_start()
        pids = ", ".join(str(n.pid()) for n in self.nodes)
        return f"started on {self.address} (pid {pids})"

    async def _start(self) -> None:
        await self._start_nodes(self.nodes)

    def _other_nodes(self) -> list[KafkaNode]:
        """The nodes of the other layout (single node / cluster) in this stack's folder."""
        s = self.settings
        if s.kafka_brokers == 1:
            return [
                KafkaNode(n, d, 0, 0)
                for d in sorted(self.dir.glob("node-*"))
                if (n := int(d.name.removeprefix("node-")))
            ]
        return [KafkaNode(1, self.dir, s.kafka_port, s.kafka_controller_port)]

    def other_pid(self) -> int | None:
        return next((p for n in self._other_nodes() if (p := n.pid()) is not None), None)

    def other_layout(self) -> str | None:
        """How the Kafka of this stack runs, when not as configured (None: as configured)."""
        if self.other_pid() is None:
            return None
        return "a cluster" if self.settings.kafka_brokers == 1 else "a single node"

    def down(self, purge: bool = False) -> str:
        if self.external:
            return super().down(purge)
        every = self.nodes + self._other_nodes()  # whichever layout runs, it stops
        pids = [p for n in every if (p := n.pid()) is not None]
        # Every node told at once: stopped one after another, the last ones wait out their
        # controlled shutdown without a quorum of controllers (a minute each) before the kill.
        for told in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(told, signal.SIGTERM)
        for node in every:
            if (pid := node.pid()) is not None:
                stop_pid(pid, node.marker)
            node.pid_file.unlink(missing_ok=True)
        said = f"stopped (pid {', '.join(map(str, pids))})" if pids else "not running"
        if purge and self.dir.exists():
            shutil.rmtree(self.dir)
            said += f", data deleted ({self.dir})"
        return said

    def resolve_jars(self) -> Path:
        if self.libs_dir.exists():
            return self.libs_dir
        mvn = shutil.which("mvn")
        if mvn is None:
            raise StackError(
                "Maven (mvn) not found; it resolves the Kafka jars once (apt-get install maven)"
            )
        staging = self.libs_dir.with_name("libs.partial")
        shutil.rmtree(staging, ignore_errors=True)
        run_checked(
            [
                mvn, "-q", "-B", "-f", str(POM),
                f"-Dkafka.version={self.settings.kafka_version}",
                "dependency:copy-dependencies",
                f"-DoutputDirectory={staging}",
            ],
            what=f"resolving Kafka {self.settings.kafka_version} jars with mvn",
        )  # fmt: skip
        staging.rename(self.libs_dir)
        return self.libs_dir

    def _prepare(self, nodes: list[KafkaNode]) -> Path:
        """Configuration for `nodes`, and their storage formatted on first use: every node of
        a cluster with the cluster's one id (kept in the first node's folder)."""
        java = find_java()
        self.resolve_jars()
        id_file = self.nodes[0].dir / "cluster.id"
        if not id_file.exists():
            self.nodes[0].dir.mkdir(parents=True, exist_ok=True)
            id_file.write_text(kafka_uuid())
        cluster_id = id_file.read_text().strip()
        voters = ",".join(f"{n.id}@127.0.0.1:{n.controller_port}" for n in self.nodes)
        credentials: dict[str, str] = {}
        if self.sasl:
            formatted = [n for n in nodes if (n.dir / "data" / "meta.properties").exists()]
            if formatted and not local_credentials_file(self.settings).exists():
                raise StackError(
                    "this stack's Kafka was formatted without SASL (no SCRAM users); "
                    "`telebill stack down --only kafka --purge` first (its data is deleted)"
                )
            credentials = ensure_credentials(self.settings)
        for node in nodes:
            security = (
                broker_properties(node.port, node.controller_port, credentials)
                if credentials
                else {}
            )
            node.write_config(self.settings, voters, security)
            if not (node.dir / "data" / "meta.properties").exists():
                run_checked(
                    node.java_argv(
                        java, self.libs_dir, "kafka.tools.StorageTool", "format",
                        "-t", cluster_id, "-c", str(node.config_file), "--ignore-formatted",
                        *format_arguments(credentials),
                    ),
                    what=f"formatting Kafka storage (node {node.id})",
                )  # fmt: skip
        return java

    async def _start_nodes(self, nodes: list[KafkaNode]) -> None:
        java = await asyncio.to_thread(self._prepare, nodes)
        heap = "1g" if len(self.nodes) == 1 else "512m"
        procs = []
        for node in nodes:
            argv = node.java_argv(
                java, self.libs_dir, "kafka.Kafka", str(node.config_file), heap=heap
            )
            argv.insert(1, "-XX:+UseG1GC")
            procs.append(spawn(argv, log_file=node.log_file, pid_file=node.pid_file))
        want = len(self.nodes)
        for node, proc in zip(nodes, procs, strict=True):

            async def joined(node: KafkaNode = node) -> bool:
                # A quorum of controllers, and this broker registered and listening (a broker
                # killed a moment ago may still be registered: its port tells).
                return node.id in await self.brokers() and port_answers(node.port)

            await wait_until(
                joined,
                within=self.settings.start_timeout_s,
                what=f"Kafka node {node.id}" if want > 1 else "Kafka",
                proc=proc,
                log_file=node.log_file,
            )

    async def after_start(self) -> None:
        s = self.settings
        if self.sasl:  # idempotent: an ACL that exists is left as it is
            await create_acls(self.client(), application_acls(s.topic_prefix))
        await ensure_topics(
            self.client(),
            s.kafka_partitions,
            s.topic_prefix,
            s.kafka_replication_factor,
            s.kafka_min_insync_replicas,
            chain_channels(s.channel_chains),
        )
