"""A process's port: `/healthz` says whether its event loop turns, everything else is its
metrics (telebill/probe_server.py)."""

from __future__ import annotations

import asyncio
import socket
import time
import urllib.error
import urllib.request
from wsgiref.util import setup_testing_defaults

import pytest

from telebill.config import Settings
from telebill.probe_server import STALE_S, Heartbeat, probe_app, serve_metrics
from tests.helpers import eventually, free_port


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def call(app: object, path: str) -> tuple[str, bytes]:
    environ: dict[str, object] = {"PATH_INFO": path}
    setup_testing_defaults(environ)
    got: list[str] = []
    body = b"".join(app(environ, lambda status, headers: got.append(status)))  # type: ignore[operator]
    return got[0], body


def test_healthz_is_200_while_the_loop_beats_and_503_once_it_is_silent() -> None:
    clock = Clock()
    beat = Heartbeat(clock)
    app = probe_app(beat)
    assert call(app, "/healthz") == ("200 OK", b"ok\n")
    clock.now += STALE_S - 1
    assert call(app, "/healthz")[0] == "200 OK"
    clock.now += 2
    status, body = call(app, "/healthz")
    assert status == "503 Service Unavailable"
    assert body == b"event loop silent for 31 s\n"
    beat.beat()
    assert call(app, "/healthz")[0] == "200 OK"


def test_every_other_path_is_the_metrics() -> None:
    status, body = call(probe_app(None), "/metrics")
    assert status.startswith("200")
    assert b"telebill_consumer_events_total" in body
    assert call(probe_app(None), "/healthz")[0] == "200 OK"  # no loop to watch


def get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def test_a_served_port_watches_the_loop_it_was_started_on() -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"

    async def run() -> None:
        assert serve_metrics(Settings(metrics_port=port), stale_s=0.5) == port
        assert b"telebill_sent_total" in (await asyncio.to_thread(get, f"{base}/metrics"))[1]

        async def beating() -> bool:
            return (await asyncio.to_thread(get, f"{base}/healthz"))[0] == 200

        await eventually(beating, "the heartbeat", 10)
        # the loop blocked here, in this very coroutine: the port says so, and again 200 once
        # the loop turns
        deadline = time.monotonic() + 10
        while (got := get(f"{base}/healthz"))[0] != 503:
            assert time.monotonic() < deadline, "the blocked loop was never reported"
        assert got[1].startswith(b"event loop silent for ")
        await eventually(beating, "the heartbeat again", 10)

    asyncio.run(run())


@pytest.mark.skipif(not socket.has_ipv6, reason="no IPv6 on this machine")
def test_an_ipv6_host_is_served_too() -> None:
    """`TELEBILL_METRICS_HOST=::` (every address of a dual-stack pod) or `::1`."""
    port = free_port()
    try:
        with socket.socket(socket.AF_INET6) as probe:
            probe.bind(("::1", 0))
    except OSError:
        pytest.skip("IPv6 is not configured on loopback here")
    assert serve_metrics(Settings(metrics_port=port, metrics_host="::1")) == port
    assert get(f"http://[::1]:{port}/healthz")[0] == 200
