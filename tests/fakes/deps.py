"""`FakeDeps`: the service layer's `Deps` with the in-memory stores and Temporal, and a
connection that is no connection (the fakes ignore it; a transaction is a no-op)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, cast

from telebill.config import Settings
from telebill.errors import Unavailable
from telebill.service.deps import Deps
from telebill.service.ports import Stores, Temporal
from tests.fakes.stores import fake_stores
from tests.fakes.temporal import FakeTemporal

if TYPE_CHECKING:
    from telebill.db.connect import DbConn


class FakeConn:
    """Stands for a connection: the fakes never look at it."""

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[None]:
        yield


class FakeDeps(Deps):
    """Deps whose stores and Temporal are fakes. `temporal=None`: Temporal does not answer
    (connecting fails with `Unavailable`, as `Deps.gateway` does)."""

    def __init__(
        self,
        settings: Settings | None = None,
        stores: Stores | None = None,
        temporal: FakeTemporal | None = None,
    ) -> None:
        super().__init__(settings or Settings(), stores=stores or fake_stores())
        self.fake_temporal = temporal
        self.connections = 0  # how many times a connection was asked for

    @asynccontextmanager
    async def db(self) -> AsyncIterator[DbConn]:
        self.connections += 1
        yield cast("DbConn", FakeConn())

    async def gateway(self) -> Temporal:
        if self.fake_temporal is None:
            raise Unavailable("Temporal at 127.0.0.1:1 does not answer: (fake) away")
        return self.fake_temporal
