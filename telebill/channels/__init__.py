"""Delivery channels. Each module here that defines CHANNEL is one (email, sms, …)."""

from __future__ import annotations

import importlib
import pkgutil
from functools import lru_cache

from telebill.channels.base import Channel
from telebill.errors import TelebillError


@lru_cache(maxsize=1)
def channels() -> dict[str, Channel]:
    found: dict[str, Channel] = {}
    for module in pkgutil.iter_modules(__path__):
        channel = getattr(importlib.import_module(f"{__name__}.{module.name}"), "CHANNEL", None)
        if isinstance(channel, Channel):
            found[channel.name] = channel
    return found


def channel(name: str) -> Channel:
    try:
        return channels()[name]
    except KeyError:
        raise TelebillError(
            f"unknown channel {name!r}; choose from {', '.join(sorted(channels()))}"
        ) from None
