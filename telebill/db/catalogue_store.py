"""The catalogue's home: every statement on `product` and `product_terms` (the products are
written by the migrations; the code only reads them)."""

from __future__ import annotations

from datetime import date

import asyncpg

from telebill.db.connect import DbConn
from telebill.domain.pricing import Product


async def load_products(conn: DbConn, month: date) -> dict[int, Product]:
    """The catalogue with the terms in force for `month` (each product's latest `product_terms`
    row from that month or before; none: no speed limits or caps)."""
    rows = await conn.fetch(
        """
        SELECT p.id, p.code, p.kind, p.name, p.monthly_fee, p.data_mb, p.voice_sec, p.sms_count,
               p.data_rate_mkrw_per_mb, p.voice_rate_mkrw_per_sec, p.sms_rate_mkrw,
               p.device_price, p.vat_exempt,
               t.throttle_kbps, t.max_speed_kbps, t.data_overage_cap_krw
        FROM product p
        LEFT JOIN LATERAL (
            SELECT throttle_kbps, max_speed_kbps, data_overage_cap_krw
            FROM product_terms
            WHERE product_id = p.id AND effective_from <= $1
            ORDER BY effective_from DESC
            LIMIT 1
        ) t ON true
        """,
        month,
    )
    return {r["id"]: Product(**dict(r)) for r in rows}


async def active_products(conn: DbConn) -> list[asyncpg.Record]:
    """id, code, kind, data_mb, voice_sec, sms_count of each active product, in id order (what
    the seed draws subscriptions from)."""
    rows: list[asyncpg.Record] = await conn.fetch(
        "SELECT id, code, kind, data_mb, voice_sec, sms_count FROM product WHERE active ORDER BY id"
    )
    return rows
