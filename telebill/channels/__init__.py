"""Delivery channels. Each module here that defines CHANNEL is one (email, sms, …)."""

from __future__ import annotations

import importlib
import pkgutil
from functools import lru_cache

from telebill.channels.base import Channel
from telebill.domain.statuses import delivered_status
from telebill.errors import TelebillError

_registered: dict[str, Channel] = {}


@lru_cache(maxsize=1)
def channels() -> dict[str, Channel]:
    found: dict[str, Channel] = {}
    for module in pkgutil.iter_modules(__path__):
        channel = getattr(importlib.import_module(f"{__name__}.{module.name}"), "CHANNEL", None)
        if isinstance(channel, Channel):
            found[channel.name] = channel
    return found | _registered


def delivered_statuses() -> list[str]:
    """The delivered status of each channel, e-mail and SMS first (the statuses there were
    before other channels), then the others by name: DELIVERED_EMAIL, DELIVERED_SMS, …"""
    names = sorted(channels(), key=lambda n: (n not in ("email", "sms"), n != "email", n))
    return [delivered_status(n) for n in names]


def register(channel: Channel) -> None:
    """A channel from outside this package (a plug-in, a test): from now on it is one like the
    modules here, with its topics, consumer, retry policy and templates."""
    _registered[channel.name] = channel
    channels.cache_clear()


def channel(name: str) -> Channel:
    try:
        return channels()[name]
    except KeyError:
        raise TelebillError(
            f"unknown channel {name!r}; choose from {', '.join(sorted(channels()))}"
        ) from None


def unregister(name: str) -> None:
    """Forget a registered channel (a plug-in unloaded, a test done)."""
    _registered.pop(name, None)
    channels.cache_clear()
