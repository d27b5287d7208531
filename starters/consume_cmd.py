"""`telebill consume email|sms|dlq`: the message platform's Kafka consumers."""

from __future__ import annotations

import asyncio
import signal

import typer
from rich.console import Console

from telebill.config import get_settings

app = typer.Typer(
    help="Run a consumer of the message platform until SIGTERM/Ctrl-C. Run several processes of "
    "one kind to share the work (one consumer group per kind).",
    no_args_is_help=True,
)
console = Console()


async def _run(kind: str) -> None:
    from telebill.db.migrate import ensure_schema
    from workers.delivery_consumer import ChannelConsumer, DeadLetterConsumer
    from workers.temporal_worker import create_pool

    settings = get_settings()
    await ensure_schema(settings.db_url)
    pool = await create_pool(settings)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    consumer = (
        DeadLetterConsumer(settings, pool)
        if kind == "dlq"
        else ChannelConsumer(kind, settings, pool)
    )
    console.print(f"{kind} consumer on {settings.kafka_servers}; Ctrl-C stops it", highlight=False)
    try:
        await consumer.run(stop)  # an event in flight is finished, then its offset committed
    finally:
        await pool.close()


@app.command()
def email() -> None:
    """E-mail: billing.email and its retry tiers; after the last retry, the SMS fallback."""
    asyncio.run(_run("email"))


@app.command()
def sms() -> None:
    """SMS: billing.sms and its retry tiers; after the last retry, the dead-letter queue."""
    asyncio.run(_run("sms"))


@app.command()
def dlq() -> None:
    """Dead letters: records each with its reason and history in PostgreSQL."""
    asyncio.run(_run("dlq"))
