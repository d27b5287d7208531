"""initial schema

Revision ID: 0001
Revises:
Create Date: 2026-11-25 10:54:49.043082
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


# Raises "time zone ... not recognized" for an unknown zone, so CHECK (telebill_valid_timezone(tz))
# refuses it with that message. IMMUTABLE holds as long as the zone database does not drop a zone.
VALID_TZ_FUNCTION = """
CREATE OR REPLACE FUNCTION telebill_valid_timezone(tz text) RETURNS boolean
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
AS $$ SELECT (timestamptz '2000-01-01 00:00+00' AT TIME ZONE tz) IS NOT NULL $$
"""


def upgrade() -> None:
    op.execute(VALID_TZ_FUNCTION)
    op.create_table(
        "blackout_window",
        sa.Column("id", sa.Integer(), sa.Identity(always=False), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("start_time", sa.Time(), nullable=False),
        sa.Column("end_time", sa.Time(), nullable=False),
        sa.Column("weekdays", postgresql.ARRAY(sa.SmallInteger()), nullable=True),
        sa.Column("active", sa.Boolean(), server_default=sa.text("true"), nullable=False),
        sa.CheckConstraint("start_time <> end_time", name="blackout_window_not_empty"),
        sa.CheckConstraint(
            "weekdays <@ ARRAY[1,2,3,4,5,6,7]::smallint[]", name="blackout_weekdays"
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("name"),
    )
    op.create_table(
        "dead_letter",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("event", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("first_error", sa.Text(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("bill_id", sa.BigInteger(), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("replayed_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "member",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("email", sa.Text(), nullable=False),
        sa.Column("phone", sa.Text(), nullable=False),
        sa.Column("preferred_day", sa.SmallInteger(), nullable=False),
        sa.Column("quiet_start", sa.Time(), nullable=True),
        sa.Column("quiet_end", sa.Time(), nullable=True),
        sa.Column("timezone", sa.Text(), server_default="Asia/Seoul", nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint("email LIKE '%_@_%'", name="member_email_shape"),
        sa.CheckConstraint(
            "(quiet_start IS NULL) = (quiet_end IS NULL)", name="member_quiet_hours_both_or_none"
        ),
        sa.CheckConstraint("preferred_day BETWEEN 1 AND 31", name="member_preferred_day_1_31"),
        sa.CheckConstraint(
            "quiet_start IS NULL OR quiet_start <> quiet_end", name="member_quiet_not_empty"
        ),
        sa.CheckConstraint("telebill_valid_timezone(timezone)", name="member_timezone_valid"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("email"),
    )
    op.create_index("member_preferred_day_idx", "member", ["preferred_day"], unique=False)
    op.create_table(
        "message_template",
        sa.Column("id", sa.Integer(), sa.Identity(always=False), nullable=False),
        sa.Column("channel", sa.Text(), nullable=False),
        sa.Column("code", sa.Text(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("subject", sa.Text(), nullable=True),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("active", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint("version >= 1", name="message_template_version_positive"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("channel", "code", "version", name="message_template_version_key"),
    )
    op.create_index(
        "message_template_one_active_idx",
        "message_template",
        ["channel", "code"],
        unique=True,
        postgresql_where=sa.text("active"),
    )
    op.create_table(
        "population",
        sa.Column("id", sa.SmallInteger(), nullable=False),
        sa.Column("seed", sa.BigInteger(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint("id = 1", name="population_single_row"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "product",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.Text(), nullable=False),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("monthly_fee", sa.Integer(), server_default="0", nullable=False),
        sa.Column("data_mb", sa.Integer(), nullable=True),
        sa.Column("voice_sec", sa.Integer(), nullable=True),
        sa.Column("sms_count", sa.Integer(), nullable=True),
        sa.Column("data_rate_mkrw_per_mb", sa.Integer(), server_default="0", nullable=False),
        sa.Column("voice_rate_mkrw_per_sec", sa.Integer(), server_default="0", nullable=False),
        sa.Column("sms_rate_mkrw", sa.Integer(), server_default="0", nullable=False),
        sa.Column("device_price", sa.Integer(), nullable=True),
        sa.Column("vat_exempt", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("active", sa.Boolean(), server_default=sa.text("true"), nullable=False),
        sa.CheckConstraint("kind <> 'device' OR device_price > 0", name="product_device_has_price"),
        sa.CheckConstraint("kind IN ('plan', 'addon', 'device')", name="product_kind"),
        sa.CheckConstraint(
            "monthly_fee >= 0 AND coalesce(data_mb, 0) >= 0 AND coalesce(voice_sec, 0) >= 0 AND coalesce(sms_count, 0) >= 0 AND data_rate_mkrw_per_mb >= 0 AND voice_rate_mkrw_per_sec >= 0 AND sms_rate_mkrw >= 0 AND coalesce(device_price, 0) >= 0",
            name="product_amounts_non_negative",
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("code"),
    )
    op.create_table(
        "reserved_send",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("send_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("billing_month", sa.Date(), nullable=False),
        sa.Column("member_ids", postgresql.ARRAY(sa.BigInteger()), nullable=True),
        sa.Column("status", sa.Text(), server_default="RESERVED", nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "status IN ('RESERVED', 'DISPATCHED', 'CANCELLED')", name="reserved_send_status"
        ),
        sa.CheckConstraint(
            "EXTRACT(DAY FROM billing_month) = 1", name="reserved_send_month_first_day"
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "reserved_send_status_at_idx", "reserved_send", ["status", "send_at"], unique=False
    )
    op.create_table(
        "bill",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("member_id", sa.BigInteger(), nullable=False),
        sa.Column("billing_month", sa.Date(), nullable=False),
        sa.Column("charges", sa.BigInteger(), nullable=False),
        sa.Column("discounts", sa.BigInteger(), nullable=False),
        sa.Column("vat", sa.BigInteger(), nullable=False),
        sa.Column("amount_due", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.Text(), server_default="SETTLED", nullable=False),
        sa.Column("settlement_id", sa.Text(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint("EXTRACT(DAY FROM billing_month) = 1", name="bill_month_first_day"),
        sa.CheckConstraint(
            "amount_due >= 0 AND amount_due % 10 = 0", name="bill_amount_due_whole_tens"
        ),
        sa.CheckConstraint("charges >= 0 AND discounts <= 0 AND vat >= 0", name="bill_parts_signs"),
        sa.ForeignKeyConstraint(
            ["member_id"],
            ["member.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("member_id", "billing_month", name="bill_member_month_key"),
    )
    op.create_index("bill_month_status_idx", "bill", ["billing_month", "status"], unique=False)
    op.create_table(
        "subscription",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("member_id", sa.BigInteger(), nullable=False),
        sa.Column("product_id", sa.Integer(), nullable=False),
        sa.Column("starts_on", sa.Date(), nullable=False),
        sa.Column("ends_on", sa.Date(), nullable=True),
        sa.Column(
            "contract_discount", sa.Boolean(), server_default=sa.text("false"), nullable=False
        ),
        sa.Column("installment_months", sa.SmallInteger(), nullable=True),
        sa.CheckConstraint("ends_on IS NULL OR ends_on >= starts_on", name="subscription_period"),
        sa.CheckConstraint(
            "installment_months IS NULL OR installment_months IN (12, 24, 30, 36)",
            name="subscription_installment_terms",
        ),
        sa.ForeignKeyConstraint(
            ["member_id"],
            ["member.id"],
        ),
        sa.ForeignKeyConstraint(
            ["product_id"],
            ["product.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("subscription_member_idx", "subscription", ["member_id"], unique=False)
    op.create_table(
        "bill_item",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("bill_id", sa.BigInteger(), nullable=False),
        sa.Column("line_no", sa.SmallInteger(), nullable=False),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("label", sa.Text(), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("snapshot", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.CheckConstraint("line_no >= 1", name="bill_item_line_no_positive"),
        sa.ForeignKeyConstraint(["bill_id"], ["bill.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("bill_id", "line_no", name="bill_item_bill_line_key"),
    )
    op.create_table(
        "notification",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("bill_id", sa.BigInteger(), nullable=False),
        sa.Column("purpose", sa.Text(), server_default="MONTHLY_BILL", nullable=False),
        sa.Column("status", sa.Text(), server_default="PENDING", nullable=False),
        sa.Column("channel", sa.Text(), nullable=True),
        sa.Column("template_version", sa.Integer(), nullable=True),
        sa.Column("send_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["bill_id"],
            ["bill.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("bill_id", "purpose", name="notification_bill_purpose_key"),
    )
    op.create_index("notification_status_idx", "notification", ["status"], unique=False)
    op.create_table(
        "usage_monthly",
        sa.Column("billing_month", sa.Date(), nullable=False),
        sa.Column("member_id", sa.BigInteger(), nullable=False),
        sa.Column("subscription_id", sa.BigInteger(), nullable=False),
        sa.Column("data_mb", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("voice_sec", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("sms_count", sa.Integer(), server_default="0", nullable=False),
        sa.Column("micro_payment_krw", sa.BigInteger(), server_default="0", nullable=False),
        sa.CheckConstraint("EXTRACT(DAY FROM billing_month) = 1", name="usage_month_first_day"),
        sa.ForeignKeyConstraint(
            ["member_id"],
            ["member.id"],
        ),
        sa.ForeignKeyConstraint(
            ["subscription_id"],
            ["subscription.id"],
        ),
        sa.PrimaryKeyConstraint("billing_month", "member_id", "subscription_id"),
    )
    op.create_table(
        "delivery_attempt",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("notification_id", sa.BigInteger(), nullable=False),
        sa.Column("channel", sa.Text(), nullable=False),
        sa.Column("attempt", sa.SmallInteger(), nullable=False),
        sa.Column("outcome", sa.Text(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("template_code", sa.Text(), nullable=True),
        sa.Column("template_version", sa.Integer(), nullable=True),
        sa.Column("latency_ms", sa.Integer(), nullable=True),
        sa.Column(
            "at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False
        ),
        sa.CheckConstraint("attempt >= 1", name="delivery_attempt_positive"),
        sa.ForeignKeyConstraint(
            ["notification_id"],
            ["notification.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "delivery_attempt_notification_idx", "delivery_attempt", ["notification_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index("delivery_attempt_notification_idx", table_name="delivery_attempt")
    op.drop_table("delivery_attempt")
    op.drop_table("usage_monthly")
    op.drop_index("notification_status_idx", table_name="notification")
    op.drop_table("notification")
    op.drop_table("bill_item")
    op.drop_index("subscription_member_idx", table_name="subscription")
    op.drop_table("subscription")
    op.drop_index("bill_month_status_idx", table_name="bill")
    op.drop_table("bill")
    op.drop_index("reserved_send_status_at_idx", table_name="reserved_send")
    op.drop_table("reserved_send")
    op.drop_table("product")
    op.drop_table("population")
    op.drop_index(
        "message_template_one_active_idx",
        table_name="message_template",
        postgresql_where=sa.text("active"),
    )
    op.drop_table("message_template")
    op.drop_index("member_preferred_day_idx", table_name="member")
    op.drop_table("member")
    op.drop_table("dead_letter")
    op.drop_table("blackout_window")
    op.execute("DROP FUNCTION telebill_valid_timezone(text)")
