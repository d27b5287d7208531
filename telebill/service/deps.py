"""What an admin operation needs from outside: the settings, a database connection and a Temporal
client. A CLI command opens them for its one call; the API keeps a pool and one client."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from telebill.errors import Unavailable
from telebill.service.ports import Stores

if TYPE_CHECKING:
    import asyncpg
    from temporalio.client import Client

    from telebill.config import Settings
    from telebill.db.connect import DbConn
    from telebill.service.ports import Temporal
    from telebill.templates.isolated import IsolatedRenderer


@dataclass
class Deps:
    settings: Settings
    pool: asyncpg.Pool | None = None  # None: a connection per call (the CLI)
    # How long a call waits for one of the pool's connections before `Unavailable` (the bill
    # page's, TELEBILL_WEB_DB_ACQUIRE_TIMEOUT_S: a public page answers 503 rather than
    # holding every request of a flood in the queue); None: as long as it takes.
    acquire_timeout: float | None = None
    # the stores the services call (telebill/service/ports.py); fakes in the fast tests
    stores: Stores = field(default_factory=Stores)
    _client: Client | None = field(default=None, repr=False)
    _gateway: Temporal | None = field(default=None, repr=False)
    _renderer: IsolatedRenderer | None = field(default=None, repr=False)

    @asynccontextmanager
    async def db(self) -> AsyncIterator[DbConn]:
        """A connection at the latest schema: borrowed from the pool, or opened (and migrated
        first if behind) for this call."""
        if self.pool is not None:
            try:
                conn = await self.pool.acquire(timeout=self.acquire_timeout)
            except TimeoutError:  # only the wait for a connection: not the caller's own work
                raise Unavailable(
                    f"no database connection free within {self.acquire_timeout} s"
                ) from None
            try:
                yield conn
            finally:
                await self.pool.release(conn)
            return
        # lazy: Alembic and SQLAlchemy, ~0.4 s of a command's start
        from telebill.db.migrate import connect_ready

        own = await connect_ready(self.settings.db_url)
        try:
            yield own
        finally:
            await own.close()

    async def temporal(self) -> Client:
        """The Temporal client, connected once; `Unavailable` in one line when it does not
        answer."""
        if self._client is None:
            # lazy: temporalio, ~0.25 s of a command's start; most commands never call Temporal
            from telebill.temporal_client import connect_client

            s = self.settings
            try:
                self._client = await connect_client(s)
            except RuntimeError as exc:
                raise Unavailable(
                    f"Temporal at {s.temporal_target} does not answer: {exc}"
                ) from None
        return self._client

    async def gateway(self) -> Temporal:
        """Temporal as the service layer calls it (telebill/temporal_gateway.py)."""
        if self._gateway is None:
            # lazy: temporalio, ~0.25 s of a command's start; most commands never call Temporal
            from telebill.temporal_gateway import TemporalGateway

            self._gateway = TemporalGateway(await self.temporal(), self.settings)
        return self._gateway

    def renderer(self) -> IsolatedRenderer:
        """The helper processes that render templates a person wrote (previews, adds)."""
        if self._renderer is None:
            # lazy: multiprocessing, ~5 ms, for a command that renders templates only
            from telebill.templates.isolated import IsolatedRenderer

            s = self.settings
            self._renderer = IsolatedRenderer(
                s.preview_processes, s.preview_timeout_s, s.preview_memory_mb
            )
        return self._renderer

    def close(self) -> None:
        if self._renderer is not None:
            self._renderer.close()
