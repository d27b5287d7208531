"""Reading a process's Prometheus metrics over HTTP, as Prometheus would."""

from __future__ import annotations

import asyncio
import urllib.request

from prometheus_client.parser import text_string_to_metric_families

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scrape(port: int) -> Samples:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as answer:
        text = answer.read().decode()
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


async def scraped(port: int, within: float = 30) -> Samples:
    """The first answer of a process that is starting."""
    deadline = asyncio.get_running_loop().time() + within
    while True:
        try:
            return await asyncio.to_thread(scrape, port)
        except OSError:
            assert asyncio.get_running_loop().time() < deadline, f"nothing serves on {port}"
            await asyncio.sleep(0.3)


async def reaches(
    port: int, name: str, wanted: float, within: float = 30, **labels: str
) -> Samples:
    """The first scrape in which the sample is `wanted` (a process sets its gauges as it goes:
    serving metrics comes before consuming)."""
    deadline = asyncio.get_running_loop().time() + within
    while True:
        samples = await scraped(port, within)
        if value(samples, name, **labels) == wanted:
            return samples
        assert asyncio.get_running_loop().time() < deadline, f"{name}{labels} never {wanted}"
        await asyncio.sleep(0.3)
