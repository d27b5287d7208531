"""The PostgreSQL roles the processes connect as: the migrations as the owner, the worker, the
consumers and the API each as a role of its own. What each may do is telebill/db/roles.py
(GRANTS); its password, on the local stack, telebill/credentials.py."""

from __future__ import annotations

from enum import StrEnum


class DbRole(StrEnum):
    OWNER = "owner"
    WORKER = "worker"
    CONSUMER = "consumer"
    API = "api"

    @property
    def login(self) -> str:
        """The PostgreSQL role's name (the local stack creates each; a deployment's DBA too)."""
        return f"telebill_{self.value}"
