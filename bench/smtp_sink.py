"""The handlers of the benchmark's aiosmtpd (`python -m aiosmtpd -c bench.smtp_sink.Sink`):
each takes every message and keeps none, like aiosmtpd's own Sink. `Sink` offers PIPELINING
in its EHLO (RFC 2920) as Postfix does, which aiosmtpd does not by itself (it reads pipelined
commands in order all the same); `SerialSink` does not, so the client sends one command at a
time: the two side by side measure what pipelining saves."""

from __future__ import annotations

from aiosmtpd.smtp import SMTP, Envelope, Session


class SerialSink:
    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        return "250 OK"


class Sink(SerialSink):
    async def handle_EHLO(
        self, server: SMTP, session: Session, envelope: Envelope, hostname: str, lines: list[str]
    ) -> list[str]:
        session.host_name = hostname
        return [*lines[:1], "250-PIPELINING", *lines[1:]]
