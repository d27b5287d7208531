"""Drills need the stack; it is brought up if it is not running (as for the integration tests)."""

from tests.integration.conftest import stack_running  # noqa: F401
