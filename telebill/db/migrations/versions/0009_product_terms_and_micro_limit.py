"""product terms as Korean operators sell them, and each member's micro-payment limit

Terms are dated: a product's row in `product_terms` applies to billing months from its
`effective_from` on, and a month before any row of it is priced as before (data overage at the
plan's rate, no speed limits). So the catalogue rows of 0002 keep their meaning for months that
were billed under them, and a re-settlement of such a month gives the same bill.

From 2026-11: the 5G plans and the teen plan slow down after their allowance instead of charging
data overage (400 kbps, 5 Mbps, 1 Mbps); the small LTE plans still charge 22.53원/MB;
데이터 안심옵션 waives data overage (the line then runs at 400 kbps); a new add-on caps it at
18,182원 a month (20,000원 with VAT). Every plan carries its top speed (LTE 300 Mbps, 5G
1.5 Gbps): a month's data beyond what those speeds can carry is refused, not billed.

소액결제 한도: the monthly micro-payment limit a member has chosen, at most 1,000,000원 (the legal
ceiling); 300,000원 unless set.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-26 23:30:00
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

FROM = date(2026, 11, 1)
LTE, G5 = 300_000, 1_500_000  # kbit/s
CAP_ADDON = 207
# product id → (throttle_kbps, max_speed_kbps, data_overage_cap_krw)
TERMS = {
    101: (None, LTE, None),
    102: (None, LTE, None),
    103: (1_000, LTE, None),
    104: (None, LTE, None),
    105: (400, G5, None),
    106: (5_000, G5, None),
    107: (None, G5, None),
    202: (400, None, 0),
    CAP_ADDON: (None, None, 18_182),
}


def upgrade() -> None:
    op.create_table(
        "product_terms",
        sa.Column("product_id", sa.Integer(), sa.ForeignKey("product.id"), nullable=False),
        sa.Column("effective_from", sa.Date(), nullable=False),
        sa.Column("throttle_kbps", sa.Integer()),
        sa.Column("max_speed_kbps", sa.Integer()),
        sa.Column("data_overage_cap_krw", sa.Integer()),
        sa.PrimaryKeyConstraint("product_id", "effective_from"),
        sa.CheckConstraint(
            "extract(day FROM effective_from) = 1", name="product_terms_from_first_day"
        ),
        sa.CheckConstraint(
            "coalesce(throttle_kbps, 1) > 0 AND coalesce(max_speed_kbps, 1) > 0 "
            "AND coalesce(data_overage_cap_krw, 0) >= 0",
            name="product_terms_values",
        ),
    )
    product = sa.table(
        "product", *(sa.column(c) for c in ("id", "code", "kind", "name", "monthly_fee"))
    )
    op.bulk_insert(
        product,
        [
            {
                "id": CAP_ADDON,
                "code": "ADD_DATA_CAP_20K",
                "kind": "addon",
                "name": "데이터 요금 상한 2만원",
                "monthly_fee": 909,
            }
        ],
    )
    terms = sa.table(
        "product_terms",
        *(
            sa.column(c)
            for c in (
                "product_id",
                "effective_from",
                "throttle_kbps",
                "max_speed_kbps",
                "data_overage_cap_krw",
            )
        ),
    )
    op.bulk_insert(
        terms,
        [
            {
                "product_id": pid,
                "effective_from": FROM,
                "throttle_kbps": throttle,
                "max_speed_kbps": top,
                "data_overage_cap_krw": cap,
            }
            for pid, (throttle, top, cap) in TERMS.items()
        ],
    )
    op.add_column(
        "member",
        sa.Column("micro_payment_limit_krw", sa.Integer(), server_default="300000", nullable=False),
    )
    op.create_check_constraint(
        "member_micro_payment_limit",
        "member",
        "micro_payment_limit_krw BETWEEN 0 AND 1000000",
    )


def downgrade() -> None:
    op.drop_constraint("member_micro_payment_limit", "member")
    op.drop_column("member", "micro_payment_limit_krw")
    op.drop_table("product_terms")
    op.execute(f"DELETE FROM product WHERE id = {CAP_ADDON}")
