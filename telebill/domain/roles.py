"""Who may do what through the admin API: each role may do everything the one below it may."""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    VIEWER = "viewer"  # reads: month status, bills, templates, dead letters, audit
    OPERATOR = "operator"  # and sends: send now, resend, reserve, replay dead letters
    ADMIN = "admin"  # and manages: templates, blackout windows, member preferences, settlement

    @property
    def rank(self) -> int:
        return list(Role).index(self)

    def allows(self, needed: Role) -> bool:
        return self.rank >= needed.rank
