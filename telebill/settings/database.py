"""PostgreSQL: the database's URL, each process's own (least privilege), the pool's size."""

from __future__ import annotations

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings

from telebill.settings.base import SECTION_CONFIG


class DatabaseSettings(BaseSettings):
    model_config = SECTION_CONFIG

    database_url: str | None = Field(
        default=None, validation_alias=AliasChoices("DATABASE_URL", "TELEBILL_DATABASE_URL")
    )
    # Least privilege (telebill/db/roles.py): the worker, the consumers and the API each connect
    # with a URL of their own. Unset: on the local stack, its generated role of that name on the
    # same database; elsewhere DATABASE_URL (one user for all, as before).
    database_url_worker: str | None = None
    database_url_consumer: str | None = None
    database_url_api: str | None = None
    db_pool_size: int = Field(default=10, ge=1)
