"""The audit log of the admin API: one row per state-changing call, written whatever its end."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from telebill.db.connect import DbConn


@dataclass(frozen=True)
class AuditEntry:
    at: datetime
    actor: str
    role: str
    action: str
    target: dict[str, Any]
    status: int
    result: str


async def record(
    conn: DbConn,
    actor: str,
    role: str,
    action: str,
    target: dict[str, Any],
    status: int,
    result: str,
) -> None:
    await conn.execute(
        "INSERT INTO audit_log (actor, role, action, target, status, result) "
        "VALUES ($1, $2, $3, $4::jsonb, $5, $6)",
        actor,
        role,
        action,
        json.dumps(target, ensure_ascii=False, default=str),
        status,
        result[:2000],
    )


async def recent(conn: DbConn, limit: int = 100) -> list[AuditEntry]:
    rows = await conn.fetch(
        "SELECT at, actor, role, action, target, status, result FROM audit_log "
        "ORDER BY id DESC LIMIT $1",
        limit,
    )
    return [
        AuditEntry(
            r["at"],
            r["actor"],
            r["role"],
            r["action"],
            json.loads(r["target"]),
            r["status"],
            r["result"],
        )
        for r in rows
    ]


async def failed_sign_ins(conn: DbConn, address: str, within: timedelta) -> int:
    """Refused sign-ins from `address` in the last `within` (what throttles the next)."""
    return int(
        await conn.fetchval(
            "SELECT count(*) FROM audit_log WHERE action = 'sign-in' AND status = 401 "
            "AND target->>'address' = $1 AND at > now() - $2::interval",
            address,
            within,
        )
    )
