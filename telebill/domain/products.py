"""What a bill is priced from: the catalogue's products with the terms in force for the month, a
member's subscriptions to them, and the month's metered usage."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from typing import Any


class ProductKind(StrEnum):
    PLAN = "plan"
    ADDON = "addon"
    DEVICE = "device"


def size_text(mb: int) -> str:
    return f"{mb // 1024}GB" if mb and mb % 1024 == 0 else f"{mb:,}MB"


def speed_text(kbps: int) -> str:
    return f"{kbps // 1000}Mbps" if kbps % 1000 == 0 else f"{kbps}kbps"


@dataclass(frozen=True)
class Product:
    """A catalogue entry with the terms in force for the billing month (it goes into each line's
    snapshot)."""

    id: int
    code: str
    kind: str  # a ProductKind
    name: str
    monthly_fee: int = 0
    data_mb: int | None = None  # allowance; None = unlimited
    voice_sec: int | None = None
    sms_count: int | None = None
    data_rate_mkrw_per_mb: int = 0
    voice_rate_mkrw_per_sec: int = 0
    sms_rate_mkrw: int = 0
    device_price: int | None = None
    vat_exempt: bool = False
    throttle_kbps: int | None = None  # plan: speed after the data allowance, no overage charged
    max_speed_kbps: int | None = None  # plan: the line's top speed (what a month can carry)
    data_overage_cap_krw: int | None = None  # add-on: the month's data overage at most this

    def snapshot(self, **terms: Any) -> dict[str, Any]:
        """The product as a line was computed from it: its identity plus the terms that line
        used (a fee line keeps the fee, an overage line its allowance and rate, and so on)."""
        return {"id": self.id, "code": self.code, "name": self.name, **terms}


@dataclass(frozen=True)
class Subscription:
    id: int
    product: Product | None  # None: the product is not in the catalogue
    product_id: int
    starts_on: date
    ends_on: date | None = None  # the last day of service, inclusive
    contract_discount: bool = False
    installment_months: int | None = None


@dataclass(frozen=True)
class Usage:
    subscription_id: int
    data_mb: int = 0
    voice_sec: int = 0
    sms_count: int = 0
    micro_payment_krw: int = 0


@dataclass(frozen=True)
class MemberMonth:
    member_id: int
    month: date  # first day of the billing month
    subscriptions: tuple[Subscription, ...]
    usage: tuple[Usage, ...] = ()
    micro_payment_limit: int | None = None  # 소액결제 한도 in won; None: no limit on record
