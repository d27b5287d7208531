"""The bill page's reads in memory: a connection that answers the two queries of
`telebill.templates.bills.load_contexts` and the active e-mail template's lookup from a few
bills kept here, and records every query with its arguments (so a test can tell whether two
requests did the same database work)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import date
from typing import TYPE_CHECKING, Any, cast

from telebill.rendering.context import sample_context
from tests.fakes.deps import FakeDeps

if TYPE_CHECKING:
    from telebill.config import Settings
    from telebill.db.connect import DbConn

MONTH = date(2026, 11, 1)


@dataclass
class Bill:
    id: int
    member_id: int
    name: str
    amount_due: int = 132_230
    items: list[tuple[str, str, int]] = field(
        default_factory=lambda: [(i.kind, i.label, i.amount) for i in sample_context().items]
    )


class BillReads:
    """Stands for a connection: answers `fetch` and `fetchrow` from `bills`."""

    def __init__(self, bills: list[Bill], away: BaseException | None = None) -> None:
        self.bills = {b.id: b for b in bills}
        self.away = away  # raised by every query: PostgreSQL gone, or a bug
        self.queries: list[tuple[str, tuple[Any, ...]]] = []

    async def fetch(self, sql: str, *args: Any) -> list[dict[str, Any]]:
        self._seen(sql, args)
        wanted = [self.bills[i] for i in args[0] if i in self.bills]
        if "FROM bill_item" in sql:
            return [
                {"bill_id": b.id, "line_no": n, "kind": k, "label": label, "amount": amount}
                for b in wanted
                for n, (k, label, amount) in enumerate(b.items, 1)
            ]
        return [
            {
                "id": b.id,
                "billing_month": MONTH,
                "charges": b.amount_due,
                "discounts": 0,
                "vat": 0,
                "amount_due": b.amount_due,
                "member_id": b.member_id,
                "name": b.name,
            }
            for b in wanted
        ]

    async def fetchrow(self, sql: str, *args: Any) -> None:
        self._seen(sql, args)
        return None  # no template stored: the shipped one

    def _seen(self, sql: str, args: tuple[Any, ...]) -> None:
        self.queries.append((" ".join(sql.split()), args))
        if self.away is not None:
            raise self.away


class BillDeps(FakeDeps):
    def __init__(self, settings: Settings, reads: BillReads) -> None:
        super().__init__(settings)
        self.reads = reads

    @asynccontextmanager
    async def db(self) -> AsyncIterator[DbConn]:
        self.connections += 1
        yield cast("DbConn", self.reads)
