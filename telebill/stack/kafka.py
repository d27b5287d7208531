"""Apache Kafka 4.x in KRaft mode, one node or a cluster of nodes on loopback (each a broker and
a controller): jars resolved once by Maven, run with Java 17+."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import os
import re
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

from aiokafka.admin import AIOKafkaAdminClient

from telebill.stack.kafka_topics import ensure_topics
from telebill.stack.process import (
    StackError,
    port_answers,
    port_is_free,
    run_checked,
    running_pid,
    spawn,
    stop_pid,
    wait_until,
)
from telebill.stack.service import Service, ServiceStatus

POM = Path(__file__).with_name("kafka-pom.xml")
MIN_JAVA = 17


def find_java() -> Path:
    java_home = os.environ.get("JAVA_HOME")
    candidate = Path(java_home) / "bin" / "java" if java_home else None
    if candidate is None or not candidate.exists():
        found = shutil.which("java")
        candidate = Path(found) if found else None
    if candidate is None:
        raise StackError(f"Java {MIN_JAVA}+ not found (apt-get install openjdk-17-jre-headless)")
    proc = subprocess.run([str(candidate), "-version"], capture_output=True, text=True, check=False)
    match = re.search(r'version "(\d+)(?:\.(\d+))?', proc.stderr + proc.stdout)
    major = int(match.group(1)) if match else 0
    if major == 1 and match and match.group(2):  # "1.8.0" style
        major = int(match.group(2))
    if major < MIN_JAVA:
        raise StackError(f"Java {MIN_JAVA}+ not found ({candidate} is Java {major or '?'})")
    return candidate


def kafka_uuid() -> str:
    """A cluster id in Kafka's format: 16 random bytes, URL-safe base64 without padding, not
    starting with "-" (as Kafka's own ids: the storage tool would read it as an option)."""
    while (text := base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("="))[0] == "-":
        pass
    return text


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


@dataclass(frozen=True)
class KafkaNode:
    """One KRaft node of the local cluster: its folder, ports and process."""

    id: int
    dir: Path
    port: int
    controller_port: int

    @property
    def config_file(self) -> Path:
        return self.dir / "server.properties"

    @property
    def pid_file(self) -> Path:
        return self.dir / "pid"

    @property
    def log_file(self) -> Path:
        return self.dir / "kafka.log"

    @property
    def marker(self) -> str:
        """In the command line of this node's process only (its config file's path)."""
        return str(self.config_file)

    def pid(self) -> int | None:
        return running_pid(self.pid_file, self.marker)


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
    def libs_dir(self) -> Path:
        # Outside the service folder so `down --purge` keeps the resolved jars.
        return self.settings.stack_dir / "cache" / f"kafka-{self.settings.kafka_version}" / "libs"

    async def brokers(self) -> set[int]:
        """The ids of the brokers the cluster reports (none: it does not answer)."""
        admin = AIOKafkaAdminClient(bootstrap_servers=self.address, request_timeout_ms=5000)
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
        for node in down:
            for port in (node.port, node.controller_port):
                if not port_is_free(port):
                    raise StackError(f"port {port} in use by another program")
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

    def _write_config(self, node: KafkaNode) -> None:
        s = self.settings
        internal_rf = min(3, s.kafka_brokers)  # the group offsets survive a lost broker too
        voters = ",".join(f"{n.id}@127.0.0.1:{n.controller_port}" for n in self.nodes)
        props = {
            "process.roles": "broker,controller",
            "node.id": str(node.id),
            "controller.quorum.voters": voters,
            "listeners": f"PLAINTEXT://127.0.0.1:{node.port},CONTROLLER://127.0.0.1:{node.controller_port}",
            "advertised.listeners": f"PLAINTEXT://127.0.0.1:{node.port}",
            "controller.listener.names": "CONTROLLER",
            "inter.broker.listener.name": "PLAINTEXT",
            "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
            "log.dirs": str(node.dir / "data"),
            "num.partitions": str(s.kafka_partitions),
            "offsets.topic.num.partitions": str(s.kafka_partitions),
            "offsets.topic.replication.factor": str(internal_rf),
            "transaction.state.log.replication.factor": str(internal_rf),
            "transaction.state.log.min.isr": str(min(2, internal_rf)),
            "share.coordinator.state.topic.replication.factor": str(internal_rf),
            "share.coordinator.state.topic.min.isr": str(min(2, internal_rf)),
            # Topics are created explicitly, so a misspelt topic name fails instead of appearing.
            "auto.create.topics.enable": "false",
            "group.initial.rebalance.delay.ms": "0",
            "log.retention.hours": "168",
        }
        node.dir.mkdir(parents=True, exist_ok=True)
        node.config_file.write_text("".join(f"{k}={v}\n" for k, v in props.items()))
        (node.dir / "log4j2.properties").write_text(
            "status = warn\n"
            "appender.out.type = Console\n"
            "appender.out.name = STDOUT\n"
            "appender.out.layout.type = PatternLayout\n"
            "appender.out.layout.pattern = [%d] %p %m (%c)%n\n"
            "rootLogger.level = WARN\n"
            "rootLogger.appenderRef.out.ref = STDOUT\n"
            "logger.server.name = kafka.server.KafkaServer\n"
            "logger.server.level = INFO\n"
        )

    def _java_argv(
        self, java: Path, node: KafkaNode, main: str, *args: str, heap: str = "256m"
    ) -> list[str]:
        return [
            str(java),
            f"-Xmx{heap}",
            f"-Dlog4j2.configurationFile={node.dir / 'log4j2.properties'}",
            "-cp",
            f"{self.libs_dir}/*",
            main,
            *args,
        ]

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
        for node in nodes:
            self._write_config(node)
            if not (node.dir / "data" / "meta.properties").exists():
                run_checked(
                    self._java_argv(
                        java, node, "kafka.tools.StorageTool", "format", "-t", cluster_id, "-c",
                        str(node.config_file), "--ignore-formatted",
                    ),
                    what=f"formatting Kafka storage (node {node.id})",
                )  # fmt: skip
        return java

    async def _start_nodes(self, nodes: list[KafkaNode]) -> None:
        java = await asyncio.to_thread(self._prepare, nodes)
        heap = "1g" if len(self.nodes) == 1 else "512m"
        procs = []
        for node in nodes:
            argv = self._java_argv(java, node, "kafka.Kafka", str(node.config_file), heap=heap)
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
        await ensure_topics(
            self.address,
            s.kafka_partitions,
            s.topic_prefix,
            s.kafka_replication_factor,
            s.kafka_min_insync_replicas,
        )
