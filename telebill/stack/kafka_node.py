"""One KRaft node of the local Kafka (broker and controller): its folder, ports, process and
configuration; and the Java it runs on."""

from __future__ import annotations

import base64
import os
import re
import shutil
import subprocess
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from telebill.config import Settings
from telebill.stack.kafka_sasl import write_private
from telebill.stack.process import StackError, running_pid

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

    def write_config(
        self, s: Settings, voters: str, security: Mapping[str, str] | None = None
    ) -> None:
        """server.properties and log4j2.properties; `voters` is the cluster's controller quorum,
        `security` what replaces the plaintext listeners (kafka_sasl.broker_properties)."""
        internal_rf = min(3, s.kafka_brokers)  # the group offsets survive a lost broker too
        node = self
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
        } | dict(security or {})
        # Owner only: with SASL it holds the admin's password.
        write_private(node.config_file, "".join(f"{k}={v}\n" for k, v in props.items()))
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

    def java_argv(
        self, java: Path, libs_dir: Path, main: str, *args: str, heap: str = "256m"
    ) -> list[str]:
        return [
            str(java),
            f"-Xmx{heap}",
            f"-Dlog4j2.configurationFile={self.dir / 'log4j2.properties'}",
            "-cp",
            f"{libs_dir}/*",
            main,
            *args,
        ]
