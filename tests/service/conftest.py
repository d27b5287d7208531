"""The service layer's tests run on the in-memory fakes (tests/fakes/): no PostgreSQL, Kafka or
Temporal, so they belong to the fast tier (`make test-fast`)."""

from __future__ import annotations

import pytest

from tests.fakes import FakeDeps, FakeTemporal, fake_stores


@pytest.fixture
def temporal() -> FakeTemporal:
    return FakeTemporal()


@pytest.fixture
def deps(temporal: FakeTemporal) -> FakeDeps:
    return FakeDeps(stores=fake_stores(), temporal=temporal)
