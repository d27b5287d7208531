"""The SMTP provider's TLS and login against aiosmtpd in-process, with a CA and a relay
certificate made by the test: STARTTLS with the right password goes through, a wrong one is
535 at connecting (retried, not sent to SMS, the password in no error), a certificate not of
the trusted CA and a relay without STARTTLS are refused rather than sent to in clear, and
implicit TLS works as well."""

from __future__ import annotations

import ssl
from pathlib import Path
from typing import Any

import pytest

from telebill.channels.base import RenderedMessage
from telebill.stack.certs import Pair, issue, make_ca
from tests.integration.smtp_relay import (
    KEY,
    ScriptedRelay,
    failure_of,
    password_check,
    relay_running,
    sample_email,
    sender_for,
)


@pytest.fixture(scope="module")
def message() -> RenderedMessage:
    return sample_email()


@pytest.fixture(scope="module")
def certificates(tmp_path_factory: pytest.TempPathFactory) -> tuple[Pair, ssl.SSLContext]:
    """A CA of the test's own, and the relay's TLS context with a certificate of it."""
    folder: Path = tmp_path_factory.mktemp("smtp-tls")
    ca = make_ca(folder, "ca")
    cert = issue(ca, folder, "relay", server=True)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert.cert, cert.key)
    return ca, context


async def test_starttls_and_login(
    certificates: tuple[Pair, ssl.SSLContext], message: RenderedMessage
) -> None:
    ca, context = certificates
    server = ScriptedRelay()
    check = password_check("telebill", "s3cret-relay")
    tls: dict[str, Any] = {
        "smtp_tls": "starttls",
        "smtp_ca_file": ca.cert,
        "smtp_username": "telebill",
    }
    async with relay_running(server, starttls=context, authenticator=check) as port:
        good = sender_for(port, smtp_password="s3cret-relay", **tls)
        wrong = sender_for(port, smtp_password="wrong", **tls)
        untrusted = sender_for(port, smtp_tls="starttls", smtp_username=None)
        try:
            assert await good.send("member@example.com", message, KEY) is True
            refused = await failure_of(wrong, "member@example.com", message)
            # the relay refuses this client, not the message: retried, never straight to SMS
            assert not refused.permanent and str(refused).startswith("SMTP 535 at connecting")
            assert "s3cret" not in str(refused) and "wrong" not in str(refused)
            unverified = await failure_of(untrusted, "member@example.com", message)
            assert not unverified.permanent and "at connecting" in str(unverified)
        finally:
            for s in (good, wrong, untrusted):
                await s.aclose()
    assert len(server.accepted) == 1

    plain = ScriptedRelay()  # a relay that offers no STARTTLS: refused, not sent in clear
    async with relay_running(plain) as port:
        sender = sender_for(port, smtp_tls="starttls", smtp_ca_file=ca.cert)
        try:
            assert not (await failure_of(sender, "member@example.com", message)).permanent
        finally:
            await sender.aclose()
    assert plain.accepted == []


async def test_implicit_tls(
    certificates: tuple[Pair, ssl.SSLContext], message: RenderedMessage
) -> None:
    ca, context = certificates
    server = ScriptedRelay()
    check = password_check("telebill", "s3cret-relay")
    async with relay_running(server, implicit_tls=context, authenticator=check) as port:
        sender = sender_for(
            port,
            smtp_tls="implicit",
            smtp_ca_file=ca.cert,
            smtp_username="telebill",
            smtp_password="s3cret-relay",
        )
        try:
            assert await sender.send("member@example.com", message, KEY) is True
        finally:
            await sender.aclose()
    assert len(server.accepted) == 1
