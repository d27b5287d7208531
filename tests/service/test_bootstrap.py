"""The composition root without the stack: what a CLI command gets, and an API whose database
does not answer fails at start with the reason (it is not left half built)."""

from __future__ import annotations

import pytest

from telebill.config import Settings
from telebill.errors import Unavailable
from telebill.service.bootstrap import api_process, cli_deps
from telebill.service.ports import Stores
from tests.helpers import free_port


def test_a_cli_command_gets_the_real_stores_and_a_connection_per_call() -> None:
    settings = Settings(topic_prefix="x.")
    deps = cli_deps(settings)
    assert deps.settings is settings and deps.pool is None
    assert deps.stores == Stores()


async def test_an_api_whose_database_does_not_answer_says_so() -> None:
    nowhere = Settings(database_url=f"postgresql://x:y@127.0.0.1:{free_port()}/none")
    with pytest.raises(Unavailable, match="does not answer"):
        async with api_process(nowhere):
            pytest.fail("started without a database")
