"""Apache Kafka 4.x as one KRaft node: broker jars resolved once by Maven, run with Java 17+."""

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
from pathlib import Path

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

from telebill.messaging.topics import all_topics
from telebill.stack.process import StackError, run_checked, spawn, wait_until
from telebill.stack.service import Service

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
    """A cluster id in Kafka's format: 16 random bytes, URL-safe base64 without padding."""
    return base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")


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
    def ports(self) -> list[int]:
        return [self.settings.kafka_port, self.settings.kafka_controller_port]

    @property
    def libs_dir(self) -> Path:
        # Outside the service folder so `down --purge` keeps the resolved jars.
        return self.settings.stack_dir / "cache" / f"kafka-{self.settings.kafka_version}" / "libs"

    @property
    def config_file(self) -> Path:
        return self.dir / "server.properties"

    async def answers(self) -> bool:
        admin = AIOKafkaAdminClient(bootstrap_servers=self.address, request_timeout_ms=5000)
        with quiet_kafka_logs():
            try:
                await admin.start()
                await admin.describe_cluster()
                return True
            except Exception:
                return False
            finally:
                with contextlib.suppress(Exception):
                    await admin.close()

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

    def _write_config(self) -> None:
        s = self.settings
        props = {
            "process.roles": "broker,controller",
            "node.id": "1",
            "controller.quorum.voters": f"1@127.0.0.1:{s.kafka_controller_port}",
            "listeners": f"PLAINTEXT://127.0.0.1:{s.kafka_port},CONTROLLER://127.0.0.1:{s.kafka_controller_port}",
            "advertised.listeners": f"PLAINTEXT://127.0.0.1:{s.kafka_port}",
            "controller.listener.names": "CONTROLLER",
            "inter.broker.listener.name": "PLAINTEXT",
            "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
            "log.dirs": str(self.dir / "data"),
            "num.partitions": str(s.kafka_partitions),
            "offsets.topic.num.partitions": str(s.kafka_partitions),
            "offsets.topic.replication.factor": "1",
            "transaction.state.log.replication.factor": "1",
            "transaction.state.log.min.isr": "1",
            "share.coordinator.state.topic.replication.factor": "1",
            "share.coordinator.state.topic.min.isr": "1",
            # Topics are created explicitly, so a misspelt topic name fails instead of appearing.
            "auto.create.topics.enable": "false",
            "group.initial.rebalance.delay.ms": "0",
            "log.retention.hours": "168",
        }
        self.config_file.write_text("".join(f"{k}={v}\n" for k, v in props.items()))
        (self.dir / "log4j2.properties").write_text(
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

    def _java_argv(self, java: Path, main: str, *args: str, heap: str = "256m") -> list[str]:
        return [
            str(java),
            f"-Xmx{heap}",
            f"-Dlog4j2.configurationFile={self.dir / 'log4j2.properties'}",
            "-cp",
            f"{self.libs_dir}/*",
            main,
            *args,
        ]

    def _prepare(self) -> Path:
        java = find_java()
        self.resolve_jars()
        self._write_config()
        if not (self.dir / "data" / "meta.properties").exists():
            run_checked(
                self._java_argv(
                    java, "kafka.tools.StorageTool", "format", "-t", kafka_uuid(), "-c",
                    str(self.config_file), "--ignore-formatted",
                ),
                what="formatting Kafka storage",
            )  # fmt: skip
        return java

    async def _start(self) -> None:
        java = await asyncio.to_thread(self._prepare)
        argv = self._java_argv(java, "kafka.Kafka", str(self.config_file), heap="1g")
        argv.insert(1, "-XX:+UseG1GC")
        proc = spawn(argv, log_file=self.log_file, pid_file=self.pid_file)
        await wait_until(
            self.answers,
            within=self.settings.start_timeout_s,
            what="Kafka",
            proc=proc,
            log_file=self.log_file,
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


DEFAULT_REPLICATION, DEFAULT_MIN_INSYNC = 3, 2


def replication(
    brokers: int, factor: int | None = None, min_insync: int | None = None
) -> tuple[int, int]:
    """(replication factor, min.insync.replicas) for new topics on a cluster of `brokers`:
    as configured, else 3 and 2 where there are three brokers or more (one broker may be lost
    without losing an acknowledged event or stopping writes), else every broker and 1."""
    rf = factor if factor is not None else min(DEFAULT_REPLICATION, brokers)
    if rf > brokers:
        raise StackError(
            f"replication factor {rf} needs {rf} Kafka brokers; the cluster has {brokers} "
            "(TELEBILL_KAFKA_REPLICATION_FACTOR)"
        )
    isr = min_insync if min_insync is not None else (DEFAULT_MIN_INSYNC if rf >= 3 else 1)
    if isr > rf:
        raise StackError(
            f"min.insync.replicas {isr} is more than the replication factor {rf}: no write "
            "could be acknowledged (TELEBILL_KAFKA_MIN_INSYNC_REPLICAS)"
        )
    return rf, isr


async def ensure_topics(
    bootstrap: str,
    partitions: int,
    prefix: str = "",
    factor: int | None = None,
    min_insync: int | None = None,
) -> list[str]:
    """Create whichever of the platform's topics are missing, replicated as `replication()`
    says for this cluster; return the ones created."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=30000)
    await admin.start()
    try:
        brokers = len((await admin.describe_cluster())["brokers"])
        rf, isr = replication(brokers, factor, min_insync)
        existing = set(await admin.list_topics())
        missing = [t for t in all_topics(prefix) if t not in existing]
        if missing:
            configs = {"min.insync.replicas": str(isr)}
            with contextlib.suppress(TopicAlreadyExistsError):  # another `up` raced us
                await admin.create_topics(
                    [
                        NewTopic(
                            t,
                            num_partitions=partitions,
                            replication_factor=rf,
                            topic_configs=configs,
                        )
                        for t in missing
                    ]
                )
        return missing
    finally:
        await admin.close()
