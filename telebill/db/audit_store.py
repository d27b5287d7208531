"""The audit log of the admin API: one row per state-changing call, written whatever its end."""

from __future__ import annotations

import hashlib
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


GENESIS = "0" * 64  # what the first chained row links to


def chained(
    previous: str,
    at: datetime,
    actor: str,
    role: str,
    action: str,
    target: str,
    status: int,
    result: str,
) -> str:
    """The SHA-256 that links a row to the one before: over the previous link and the row's
    content, each field length-prefixed so that no two rows can read alike."""
    digest = hashlib.sha256(previous.encode())
    for field in (at.isoformat(), actor, role, action, target, str(status), result):
        data = field.encode()
        digest.update(len(data).to_bytes(8, "big") + data)
    return digest.hexdigest()


async def record(
    conn: DbConn,
    actor: str,
    role: str,
    action: str,
    target: dict[str, Any],
    status: int,
    result: str,
) -> None:
    """Append a row, linked to the last one (writers take turns: one lock for the chain)."""
    text = json.dumps(target, ensure_ascii=False, default=str, sort_keys=True)
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock(hashtext('telebill.audit_log'))")
        previous = await conn.fetchval(
            "SELECT row_sha256 FROM audit_log WHERE row_sha256 IS NOT NULL ORDER BY id DESC LIMIT 1"
        )
        at = await conn.fetchval("SELECT now()")
        link = chained(previous or GENESIS, at, actor, role, action, text, status, result[:2000])
        await conn.execute(
            "INSERT INTO audit_log (at, actor, role, action, target, status, result, row_sha256) "
            "VALUES ($1, $2, $3, $4, $5::jsonb, $6, $7, $8)",
            at,
            actor,
            role,
            action,
            text,
            status,
            result[:2000],
            link,
        )


@dataclass(frozen=True)
class ChainCheck:
    rows: int  # chained rows read
    broken_at: int | None  # the id of the first row whose link does not hold


async def export_chain(conn: DbConn, after_id: int = 0, limit: int = 5_000) -> list[dict[str, Any]]:
    """One page of the chained rows, as they are kept (for a reviewer, and for `verify`)."""
    rows = await conn.fetch(
        "SELECT id, at, actor, role, action, target::text AS target, status, result, row_sha256 "
        "FROM audit_log WHERE row_sha256 IS NOT NULL AND id > $1 ORDER BY id LIMIT $2",
        after_id,
        limit,
    )
    return [dict(r) for r in rows]


def verify_rows(rows: list[dict[str, Any]], previous: str = GENESIS) -> tuple[str, int | None]:
    """Walk the links of exported rows: the last link, and the first id that breaks."""
    for r in rows:
        # jsonb normalises the text it keeps; the link was made over sorted, compact keys
        target = json.dumps(json.loads(r["target"]), ensure_ascii=False, sort_keys=True)
        expected = chained(
            previous, r["at"], r["actor"], r["role"], r["action"], target, r["status"], r["result"]
        )
        if expected != r["row_sha256"]:
            return previous, int(r["id"])
        previous = expected
    return previous, None


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
