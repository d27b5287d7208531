"""`telebill consume email|sms|alimtalk|push|dlq`: the message platform's Kafka consumers (one
command for every channel module in telebill/channels)."""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Annotated

import typer
from aiokafka.errors import KafkaError
from rich.console import Console
from rich.table import Table

from starters.errors import UserError
from telebill.channels import channels
from telebill.config import get_settings
from telebill.errors import TelebillError
from telebill.messaging.kafka_auth import kafka_client_kwargs
from telebill.service.bootstrap import consumer_process
from telebill.shutdown import stop_on_signals

app = typer.Typer(
    help="Run a consumer of the message platform until SIGTERM/Ctrl-C. Run several processes of "
    "one kind to share the work (one consumer group per kind).",
    no_args_is_help=True,
)
console = Console()


async def _run(kind: str) -> None:
    # lazy: prometheus_client, ~30 ms of a command's start
    from telebill.probe_server import serve_metrics

    # lazy: temporalio and aiokafka's consumer, ~0.25 s of a command's start
    from workers.dead_letter_consumer import DeadLetterConsumer

    # lazy: temporalio and aiokafka's consumer, ~0.25 s of a command's start
    from workers.delivery_consumer import ChannelConsumer

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    logging.getLogger("aiokafka").setLevel(logging.WARNING)
    settings = get_settings()
    serve_metrics(settings)
    # Started while PostgreSQL is down (a host rebooting, services in any order): it waits.
    async with consumer_process(settings) as parts:
        stop = asyncio.Event()
        stop_on_signals(f"{kind} consumer", settings.shutdown_timeout_s, stop)
        consumer = (
            DeadLetterConsumer(settings, parts.pool, parts.sink)
            if kind == "dlq"
            else ChannelConsumer(kind, settings, parts.pool, sink=parts.sink)
        )
        console.print(
            f"{kind} consumer on {settings.kafka_servers}; Ctrl-C stops it", highlight=False
        )
        await consumer.run(stop)  # an event in flight is finished, then its offset committed
    console.print(f"{kind} consumer stopped cleanly", highlight=False)


Scale = Annotated[
    str | None,
    typer.Option(
        "--scale",
        help="'auto': run a supervisor that starts and stops processes of this consumer on its "
        "group's lag, between --min and --max (at most the topic's partitions).",
    ),
]
Min = Annotated[int, typer.Option("--min", help="With --scale auto: fewest processes.")]
Max = Annotated[int, typer.Option("--max", help="With --scale auto: most processes.")]


async def _scale(kind: str, minimum: int, maximum: int) -> None:
    # lazy: prometheus_client, ~30 ms of a command's start
    from telebill.probe_server import serve_metrics

    # lazy: prometheus_client and aiokafka.admin, ~40 ms of a command's start
    from workers.consumer_scaler import ConsumerScaler

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    logging.getLogger("aiokafka").setLevel(logging.WARNING)
    settings = get_settings()
    stop = asyncio.Event()
    # its processes stop by themselves within shutdown_timeout_s, killed after scale_stop_timeout_s
    stop_on_signals(f"{kind} supervisor", settings.scale_stop_timeout_s + 5, stop)
    serve_metrics(settings)  # the supervisor's own; its n-th process serves on the port + n
    await ConsumerScaler(settings, kind, minimum, maximum).run(stop)


def _consume(kind: str, scale: str | None, minimum: int, maximum: int) -> None:
    if scale is None:
        asyncio.run(_run(kind))
        return
    if scale != "auto":
        raise UserError(f"--scale takes 'auto', not {scale!r}")
    if minimum < 1 or maximum < minimum:
        raise UserError(f"--min {minimum} --max {maximum}: need 1 ≤ min ≤ max")
    asyncio.run(_scale(kind, minimum, maximum))


@app.command()
def email(scale: Scale = None, minimum: Min = 1, maximum: Max = 4) -> None:
    """E-mail: billing.email and its retry tiers; then the next channel of the bill's chain."""
    _consume("email", scale, minimum, maximum)


@app.command()
def sms(scale: Scale = None, minimum: Min = 1, maximum: Max = 4) -> None:
    """SMS: billing.sms and its retry tiers; then the dead-letter queue (every chain ends here)."""
    _consume("sms", scale, minimum, maximum)


def _channel_command(name: str) -> None:
    def command(scale: Scale = None, minimum: Min = 1, maximum: Max = 4) -> None:
        _consume(name, scale, minimum, maximum)

    command.__doc__ = (
        f"{name}: billing.{name} and its retry tiers; then the next channel of the bill's chain "
        "(TELEBILL_CHANNEL_CHAINS), or the dead-letter queue."
    )
    app.command(name)(command)


def _more_channels() -> None:
    for name in sorted(channels()):
        if name not in ("email", "sms"):  # those two have their commands above
            _channel_command(name)


_more_channels()


@app.command()
def dlq(scale: Scale = None, minimum: Min = 1, maximum: Max = 2) -> None:
    """Dead letters: records each with its reason and history in PostgreSQL."""
    _consume("dlq", scale, minimum, maximum)


def lag(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")] = False,
) -> None:
    """Each consumer group's lag per topic: events published and not yet handled. This is the
    figure to scale consumers on (add processes of a kind while its lag grows)."""
    # lazy: aiokafka.admin, ~5 ms of a command's start, for `consume lag` only
    from telebill.messaging.lag import consumer_lag

    settings = get_settings()
    try:
        rows = asyncio.run(consumer_lag(kafka_client_kwargs(settings), settings.topic_prefix))
    except KafkaError as exc:
        raise TelebillError(f"Kafka at {settings.kafka_servers} did not answer: {exc}") from None
    if as_json:
        print(json.dumps([r.as_dict() for r in rows], indent=2))
        return
    if not rows:
        console.print("no consumer group has committed anything yet")
        return
    prefix = settings.topic_prefix
    table = Table(
        "group",
        "topic",
        "partitions",
        "committed",
        "end",
        "lag",
        "processes",
        caption=f"topic prefix {prefix!r}" if prefix else None,
    )
    for r in rows:
        table.add_row(
            r.group.removeprefix(prefix),
            r.topic.removeprefix(prefix),
            str(r.partitions),
            f"{r.committed:,}",
            f"{r.end:,}",
            f"{r.lag:,}",
            str(r.members),
        )
    # piped into a log, a table of topic names needs more than the 80 columns rich assumes
    (console if console.is_terminal else Console(width=120)).print(table)
