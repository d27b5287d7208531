"""End-to-end tests use the real stack and the throw-away databases of the integration layer."""

from tests.integration.conftest import databases, db, stack_running

__all__ = ["databases", "db", "stack_running"]
