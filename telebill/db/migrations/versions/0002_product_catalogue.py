"""product catalogue of a Korean mobile operator

Fees are VAT-exclusive integer KRW (the advertised VAT-inclusive price / 1.1, as operators
publish them). Overage rates are milli-KRW per unit: 22.53 KRW/MB (0.011 KRW per 0.5 KB),
1.98 KRW/second of voice, 22 KRW per SMS. Device prices are the full price, paid in instalments
(VAT-exempt on the bill).

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

DATA = 22_530  # milli-KRW per MB
VOICE = 1_980  # milli-KRW per second
SMS = 22_000  # milli-KRW per message

# (id, code, kind, name, monthly_fee, data_mb, voice_sec, sms_count, data_rate, voice_rate,
#  sms_rate, device_price, vat_exempt); None allowance = unlimited
PRODUCTS = [
    (
        101,
        "LTE_SENIOR_300M",
        "plan",
        "LTE 시니어 300MB",
        11_818,
        300,
        3_000,
        50,
        DATA,
        VOICE,
        SMS,
        None,
        False,
    ),
    (
        102,
        "LTE_BUDGET_1G",
        "plan",
        "알뜰 LTE 1GB",
        13_545,
        1_024,
        6_000,
        100,
        DATA,
        VOICE,
        SMS,
        None,
        False,
    ),
    (
        103,
        "LTE_TEEN_4G",
        "plan",
        "청소년 LTE 4GB",
        30_909,
        4_096,
        6_000,
        None,
        DATA,
        VOICE,
        SMS,
        None,
        False,
    ),
    (
        104,
        "LTE_DATA_2_5G",
        "plan",
        "LTE 데이터 2.5GB",
        36_364,
        2_560,
        None,
        None,
        DATA,
        VOICE,
        SMS,
        None,
        False,
    ),
    (
        105,
        "5G_SLIM_8G",
        "plan",
        "5G 슬림 8GB",
        49_091,
        8_192,
        None,
        None,
        DATA,
        VOICE,
        SMS,
        None,
        False,
    ),
    (
        106,
        "5G_STANDARD_110G",
        "plan",
        "5G 스탠다드 110GB",
        62_727,
        112_640,
        None,
        None,
        DATA,
        VOICE,
        SMS,
        None,
        False,
    ),
    (
        107,
        "5G_PREMIUM_UNL",
        "plan",
        "5G 프리미엄 무제한",
        81_818,
        None,
        None,
        None,
        0,
        0,
        0,
        None,
        False,
    ),
    (201, "ADD_COLORING", "addon", "V컬러링", 3_000, None, None, None, 0, 0, 0, None, False),
    (
        202,
        "ADD_DATA_SAFE",
        "addon",
        "데이터 안심옵션",
        4_545,
        None,
        None,
        None,
        0,
        0,
        0,
        None,
        False,
    ),
    (
        203,
        "ADD_PHONE_CARE",
        "addon",
        "휴대폰 분실·파손 보험",
        5_182,
        None,
        None,
        None,
        0,
        0,
        0,
        None,
        False,
    ),
    (204, "ADD_OTT_PACK", "addon", "OTT 구독팩", 8_091, None, None, None, 0, 0, 0, None, False),
    (205, "ADD_MUSIC", "addon", "음악 스트리밍", 6_818, None, None, None, 0, 0, 0, None, False),
    (
        206,
        "ADD_ROAMING_3G",
        "addon",
        "로밍 데이터 3GB",
        26_364,
        None,
        None,
        None,
        0,
        0,
        0,
        None,
        False,
    ),
    (
        301,
        "DEV_GALAXY_S26",
        "device",
        "Galaxy S26 256GB",
        0,
        None,
        None,
        None,
        0,
        0,
        0,
        1_155_000,
        True,
    ),
    (
        302,
        "DEV_IPHONE_17",
        "device",
        "iPhone 17 256GB",
        0,
        None,
        None,
        None,
        0,
        0,
        0,
        1_287_000,
        True,
    ),
    (303, "DEV_GALAXY_A36", "device", "Galaxy A36", 0, None, None, None, 0, 0, 0, 499_400, True),
    (
        304,
        "DEV_Z_FLIP7",
        "device",
        "Galaxy Z Flip7 256GB",
        0,
        None,
        None,
        None,
        0,
        0,
        0,
        1_485_000,
        True,
    ),
]
COLUMNS = [
    "id", "code", "kind", "name", "monthly_fee", "data_mb", "voice_sec", "sms_count",
    "data_rate_mkrw_per_mb", "voice_rate_mkrw_per_sec", "sms_rate_mkrw", "device_price", "vat_exempt",
]  # fmt: skip


def upgrade() -> None:
    product = sa.table("product", *(sa.column(c) for c in COLUMNS))
    op.bulk_insert(product, [dict(zip(COLUMNS, row, strict=True)) for row in PRODUCTS])


def downgrade() -> None:
    ids = ", ".join(str(row[0]) for row in PRODUCTS)
    op.execute(f"DELETE FROM product WHERE id IN ({ids})")
