"""Channel chains: the order in which a bill's channels are tried, set by the installation
(`TELEBILL_CHANNEL_CHAINS`), each chain starting at the channel a member may choose and ending,
whatever came before, in SMS and then the dead-letter queue.

Pure: parsed and validated once from the settings; an event carries its chain, so a fallback
follows the chain the bill started on even after the configuration changed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

LAST = "sms"  # every chain ends here: the one channel every member has
DEFAULT_CHAINS = "email>sms"
NAME_PATTERN = r"^[a-z][a-z0-9_]{1,30}$"
NAME = re.compile(NAME_PATTERN)
MAX_CHANNELS = 4


@dataclass(frozen=True)
class ChannelChain:
    channels: tuple[str, ...]

    def __post_init__(self) -> None:
        if not 1 <= len(self.channels) <= MAX_CHANNELS:
            raise ValueError(f"a channel chain has 1–{MAX_CHANNELS} channels, got {self.label}")
        for name in self.channels:
            if not NAME.match(name):
                raise ValueError(f"channel names are lowercase letters and digits, got {name!r}")
        if len(set(self.channels)) != len(self.channels):
            raise ValueError(f"a channel appears twice in {self.label}")
        if self.channels[-1] != LAST:
            raise ValueError(f"a chain ends in {LAST} (then the dead-letter queue): {self.label}")

    @property
    def first(self) -> str:
        return self.channels[0]

    @property
    def label(self) -> str:
        return " → ".join(self.channels)

    def after(self, channel: str) -> str | None:
        """The channel that follows `channel` in this chain (None: the dead-letter queue)."""
        if channel not in self.channels:
            raise ValueError(f"{channel} is not in the chain {self.label}")
        at = self.channels.index(channel)
        return self.channels[at + 1] if at + 1 < len(self.channels) else None

    @classmethod
    def parse(cls, text: str) -> ChannelChain:
        return cls(tuple(part.strip() for part in text.replace("→", ">").split(">")))


def parse_chains(text: str) -> dict[str, ChannelChain]:
    """'alimtalk>email>sms; email>sms' → one chain per first channel (the member's choice);
    the `email>sms` chain is always there."""
    chains = {c.first: c for c in map(ChannelChain.parse, filter(str.strip, text.split(";")))}
    if len(chains) != len([p for p in text.split(";") if p.strip()]):
        raise ValueError("two chains start with the same channel")
    chains.setdefault("email", ChannelChain.parse(DEFAULT_CHAINS))
    chains.setdefault(LAST, ChannelChain((LAST,)))
    return chains


def chain_channels(text: str) -> list[str]:
    """Every channel the installation's chains use, each once (their topics and consumers)."""
    return list(dict.fromkeys(c for chain in parse_chains(text).values() for c in chain.channels))
