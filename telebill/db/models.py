"""SQLAlchemy 2 models of design section 3. Constraints live in the database, not only in code."""

from __future__ import annotations

from datetime import date, datetime, time
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    ForeignKey,
    ForeignKeyConstraint,
    Identity,
    Index,
    Integer,
    SmallInteger,
    Text,
    Time,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

# A database function (created by the first migration) that raises for an unknown IANA zone, so
# a CHECK can refuse it without a per-row lookup table.
VALID_TZ_CHECK = "telebill_valid_timezone(timezone)"


class Base(DeclarativeBase):
    type_annotation_map = {dict[str, Any]: JSONB}  # noqa: RUF012 - SQLAlchemy reads it as is


def first_of_month(column: str) -> str:
    return f"EXTRACT(DAY FROM {column}) = 1"


class Population(Base):
    """How the seeded population was generated, so adding members later continues it exactly."""

    __tablename__ = "population"
    # A SMALLSERIAL in the database (how migration 0001 made it); the one row is inserted with
    # id 1 (telebill/db/member_store.py) and the CHECK keeps it so.
    id: Mapped[int] = mapped_column(SmallInteger, primary_key=True)
    seed: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    __table_args__ = (CheckConstraint("id = 1", name="population_single_row"),)


class Member(Base):
    __tablename__ = "member"
    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    name: Mapped[str] = mapped_column(Text)
    email: Mapped[str] = mapped_column(Text, unique=True)
    phone: Mapped[str] = mapped_column(Text)
    preferred_day: Mapped[int] = mapped_column(SmallInteger)
    quiet_start: Mapped[time | None] = mapped_column(Time)
    quiet_end: Mapped[time | None] = mapped_column(Time)
    timezone: Mapped[str] = mapped_column(Text, server_default="Asia/Seoul")
    micro_payment_limit_krw: Mapped[int] = mapped_column(Integer, server_default="300000")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    bill_channel: Mapped[str] = mapped_column(Text, server_default="email")  # the chain's start
    push_token: Mapped[str | None] = mapped_column(Text)  # the app's device, if installed
    __table_args__ = (
        CheckConstraint("preferred_day BETWEEN 1 AND 31", name="member_preferred_day_1_31"),
        CheckConstraint("bill_channel ~ '^[a-z][a-z0-9_]{1,30}$'", name="member_bill_channel_name"),
        CheckConstraint(
            "(quiet_start IS NULL) = (quiet_end IS NULL)", name="member_quiet_hours_both_or_none"
        ),
        CheckConstraint(
            "quiet_start IS NULL OR quiet_start <> quiet_end", name="member_quiet_not_empty"
        ),
        CheckConstraint(VALID_TZ_CHECK, name="member_timezone_valid"),
        CheckConstraint("email LIKE '%_@_%'", name="member_email_shape"),
        CheckConstraint(
            "micro_payment_limit_krw BETWEEN 0 AND 1000000", name="member_micro_payment_limit"
        ),
        # Dispatch reads "whose day is D" across 1M members.
        Index("member_preferred_day_idx", "preferred_day"),
    )


class Product(Base):
    """Catalogue entry. Prices are VAT-exclusive integer KRW; rates are milli-KRW per unit so
    fractional tariffs (22.53 KRW/MB) stay exact integers."""

    __tablename__ = "product"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(Text, unique=True)
    kind: Mapped[str] = mapped_column(Text)
    name: Mapped[str] = mapped_column(Text)
    monthly_fee: Mapped[int] = mapped_column(Integer, server_default="0")
    data_mb: Mapped[int | None] = mapped_column(Integer)  # NULL: unlimited
    voice_sec: Mapped[int | None] = mapped_column(Integer)
    sms_count: Mapped[int | None] = mapped_column(Integer)
    data_rate_mkrw_per_mb: Mapped[int] = mapped_column(Integer, server_default="0")
    voice_rate_mkrw_per_sec: Mapped[int] = mapped_column(Integer, server_default="0")
    sms_rate_mkrw: Mapped[int] = mapped_column(Integer, server_default="0")
    device_price: Mapped[int | None] = mapped_column(Integer)
    vat_exempt: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    active: Mapped[bool] = mapped_column(Boolean, server_default=text("true"))
    __table_args__ = (
        CheckConstraint("kind IN ('plan', 'addon', 'device')", name="product_kind"),
        CheckConstraint(
            "monthly_fee >= 0 AND coalesce(data_mb, 0) >= 0 AND coalesce(voice_sec, 0) >= 0 "
            "AND coalesce(sms_count, 0) >= 0 AND data_rate_mkrw_per_mb >= 0 "
            "AND voice_rate_mkrw_per_sec >= 0 AND sms_rate_mkrw >= 0 "
            "AND coalesce(device_price, 0) >= 0",
            name="product_amounts_non_negative",
        ),
        CheckConstraint("kind <> 'device' OR device_price > 0", name="product_device_has_price"),
    )


class ProductTerms(Base):
    """A product's terms from a billing month on (throttle, top speed, data-overage cap); a month
    before its first row is priced without them."""

    __tablename__ = "product_terms"
    product_id: Mapped[int] = mapped_column(ForeignKey("product.id"), primary_key=True)
    effective_from: Mapped[date] = mapped_column(Date, primary_key=True)
    throttle_kbps: Mapped[int | None] = mapped_column(Integer)
    max_speed_kbps: Mapped[int | None] = mapped_column(Integer)
    data_overage_cap_krw: Mapped[int | None] = mapped_column(Integer)
    __table_args__ = (
        CheckConstraint(
            "extract(day FROM effective_from) = 1", name="product_terms_from_first_day"
        ),
        CheckConstraint(
            "coalesce(throttle_kbps, 1) > 0 AND coalesce(max_speed_kbps, 1) > 0 "
            "AND coalesce(data_overage_cap_krw, 0) >= 0",
            name="product_terms_values",
        ),
    )


class Subscription(Base):
    __tablename__ = "subscription"
    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("member.id"))
    product_id: Mapped[int] = mapped_column(ForeignKey("product.id"))
    starts_on: Mapped[date] = mapped_column(Date)
    ends_on: Mapped[date | None] = mapped_column(Date)
    contract_discount: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    installment_months: Mapped[int | None] = mapped_column(SmallInteger)
    __table_args__ = (
        CheckConstraint("ends_on IS NULL OR ends_on >= starts_on", name="subscription_period"),
        CheckConstraint(
            "installment_months IS NULL OR installment_months IN (12, 24, 30, 36)",
            name="subscription_installment_terms",
        ),
        Index("subscription_member_idx", "member_id"),
    )


# The tables that grow with the bills are partitioned by billing month (migration 0017): a key
# includes the month, children carry their bill's month (a composite foreign key keeps it so).
BY_MONTH = {"postgresql_partition_by": "RANGE (billing_month)"}


class UsageMonthly(Base):
    """Input of the settlement (당월 이용 정보). Quantities are not constrained here: bad input must
    reach the settlement, which refuses that member's bill with a recorded reason."""

    __tablename__ = "usage_monthly"
    billing_month: Mapped[date] = mapped_column(Date, primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("member.id"), primary_key=True)
    subscription_id: Mapped[int] = mapped_column(ForeignKey("subscription.id"), primary_key=True)
    data_mb: Mapped[int] = mapped_column(BigInteger, server_default="0")
    voice_sec: Mapped[int] = mapped_column(BigInteger, server_default="0")
    sms_count: Mapped[int] = mapped_column(Integer, server_default="0")
    micro_payment_krw: Mapped[int] = mapped_column(BigInteger, server_default="0")
    __table_args__ = (
        CheckConstraint(first_of_month("billing_month"), name="usage_month_first_day"),
        BY_MONTH,
    )


class Bill(Base):
    __tablename__ = "bill"
    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("member.id"))
    billing_month: Mapped[date] = mapped_column(Date, primary_key=True)
    charges: Mapped[int] = mapped_column(BigInteger)
    discounts: Mapped[int] = mapped_column(BigInteger)
    vat: Mapped[int] = mapped_column(BigInteger)
    amount_due: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(Text, server_default="SETTLED")
    settlement_id: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    __table_args__ = (
        UniqueConstraint("member_id", "billing_month", name="bill_member_month_key"),
        CheckConstraint(first_of_month("billing_month"), name="bill_month_first_day"),
        CheckConstraint("charges >= 0 AND discounts <= 0 AND vat >= 0", name="bill_parts_signs"),
        CheckConstraint(
            "amount_due >= 0 AND amount_due % 10 = 0", name="bill_amount_due_whole_tens"
        ),
        CheckConstraint("status IN ('SETTLED', 'NOTHING_DUE')", name="bill_status"),
        BY_MONTH,
    )


class BillItem(Base):
    __tablename__ = "bill_item"
    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    billing_month: Mapped[date] = mapped_column(Date, primary_key=True)
    bill_id: Mapped[int] = mapped_column(BigInteger)
    line_no: Mapped[int] = mapped_column(SmallInteger)
    kind: Mapped[str] = mapped_column(Text)
    label: Mapped[str] = mapped_column(Text)
    amount: Mapped[int] = mapped_column(BigInteger)
    # The product, rates and quantities as they were at settlement time (no FK to product).
    snapshot: Mapped[dict[str, Any]] = mapped_column(JSONB)
    __table_args__ = (
        UniqueConstraint("bill_id", "line_no", "billing_month", name="bill_item_bill_line_key"),
        CheckConstraint("line_no >= 1", name="bill_item_line_no_positive"),
        ForeignKeyConstraint(
            ["bill_id", "billing_month"],
            ["bill.id", "bill.billing_month"],
            name="bill_item_bill_id_fkey",
            ondelete="CASCADE",
        ),
        BY_MONTH,
    )


class Notification(Base):
    __tablename__ = "notification"
    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    billing_month: Mapped[date] = mapped_column(Date, primary_key=True)
    bill_id: Mapped[int] = mapped_column(BigInteger)
    purpose: Mapped[str] = mapped_column(Text, server_default="MONTHLY_BILL")
    status: Mapped[str] = mapped_column(Text, server_default="PENDING")
    channel: Mapped[str | None] = mapped_column(Text)  # the channel that delivered it
    template_version: Mapped[int | None] = mapped_column(Integer)
    send_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    delivered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    # The notification workflow waiting for the outcome, and when it was told: an outbox, so an
    # outcome that cannot be reported at once is reported later, never lost.
    workflow_id: Mapped[str | None] = mapped_column(Text)
    published_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    reported_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    plan_problem: Mapped[str | None] = mapped_column(Text)  # no allowed instant found: why
    __table_args__ = (
        # The delivery key: one successful delivery per bill and purpose.
        UniqueConstraint(
            "bill_id", "purpose", "billing_month", name="notification_bill_purpose_key"
        ),
        ForeignKeyConstraint(
            ["bill_id", "billing_month"],
            ["bill.id", "bill.billing_month"],
            name="notification_bill_id_fkey",
        ),
        Index("notification_status_idx", "status"),
        # statuses.NotificationStatus, or a delivered status of any channel (migration 0016)
        CheckConstraint(
            "status IN ('PENDING', 'DEAD_LETTER') OR status ~ '^DELIVERED_[A-Z][A-Z0-9_]{1,30}$'",
            name="notification_status",
        ),
        CheckConstraint(
            "purpose = 'MONTHLY_BILL' OR purpose ~ '^RESEND-[1-9][0-9]*$'",
            name="notification_purpose",
        ),
        # the pending monthly notifications by instant: what is due, and the next send
        # (migration 0019; the month's other counts are month_tally's)
        Index(
            "notification_pending_send_idx",
            "billing_month",
            "send_at",
            postgresql_where=text("status = 'PENDING' AND purpose = 'MONTHLY_BILL'"),
        ),
        Index(
            "notification_unreported_idx",
            "id",
            postgresql_where=text(
                "workflow_id IS NOT NULL AND reported_at IS NULL AND status <> 'PENDING'"
            ),
        ),
        BY_MONTH,
    )


class DeferredEvent(Base):
    """An event that reached its consumer inside a blackout window or quiet hours: kept here
    until the next allowed instant, then published again (never sent inside the window)."""

    __tablename__ = "deferred_event"
    bill_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    purpose: Mapped[str] = mapped_column(Text, primary_key=True)
    topic: Mapped[str] = mapped_column(Text)
    event: Mapped[dict[str, Any]] = mapped_column(JSONB)
    due_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    reason: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    __table_args__ = (
        Index("deferred_event_due_idx", "due_at"),
        CheckConstraint(
            "purpose = 'MONTHLY_BILL' OR purpose ~ '^RESEND-[1-9][0-9]*$'",
            name="deferred_event_purpose",
        ),
    )


class DeliveryAttempt(Base):
    __tablename__ = "delivery_attempt"
    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    billing_month: Mapped[date] = mapped_column(Date, primary_key=True)
    notification_id: Mapped[int] = mapped_column(BigInteger)
    channel: Mapped[str] = mapped_column(Text)
    attempt: Mapped[int] = mapped_column(SmallInteger)
    outcome: Mapped[str] = mapped_column(Text)
    error: Mapped[str | None] = mapped_column(Text)
    template_code: Mapped[str | None] = mapped_column(Text)
    template_version: Mapped[int | None] = mapped_column(Integer)
    message_kind: Mapped[str | None] = mapped_column(Text)  # EMAIL, SMS or LMS: what went out
    latency_ms: Mapped[int | None] = mapped_column(Integer)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    __table_args__ = (
        CheckConstraint("attempt >= 1", name="delivery_attempt_positive"),
        CheckConstraint(
            "outcome IN ('SENT', 'DUPLICATE', 'FAILED', 'DEFERRED')",
            name="delivery_attempt_outcome",
        ),
        Index("delivery_attempt_notification_idx", "notification_id"),
        ForeignKeyConstraint(
            ["notification_id", "billing_month"],
            ["notification.id", "notification.billing_month"],
            name="delivery_attempt_notification_id_fkey",
        ),
        BY_MONTH,
    )


class MessageTemplate(Base):
    __tablename__ = "message_template"
    id: Mapped[int] = mapped_column(Integer, Identity(), primary_key=True)
    channel: Mapped[str] = mapped_column(Text)
    code: Mapped[str] = mapped_column(Text)
    version: Mapped[int] = mapped_column(Integer)
    subject: Mapped[str | None] = mapped_column(Text)
    body: Mapped[str] = mapped_column(Text)
    active: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    __table_args__ = (
        UniqueConstraint("channel", "code", "version", name="message_template_version_key"),
        CheckConstraint("version >= 1", name="message_template_version_positive"),
        # Exactly one active version per (channel, code) at most.
        Index(
            "message_template_one_active_idx",
            "channel",
            "code",
            unique=True,
            postgresql_where=text("active"),
        ),
    )


class BlackoutWindow(Base):
    """System-wide forbidden window, half-open [start, end) in the system time zone; may wrap
    midnight. weekdays: ISO days (1 = Monday) it applies to, NULL = every day."""

    __tablename__ = "blackout_window"
    id: Mapped[int] = mapped_column(Integer, Identity(), primary_key=True)
    name: Mapped[str] = mapped_column(Text, unique=True)
    start_time: Mapped[time] = mapped_column(Time)
    end_time: Mapped[time] = mapped_column(Time)
    weekdays: Mapped[list[int] | None] = mapped_column(ARRAY(SmallInteger))
    active: Mapped[bool] = mapped_column(Boolean, server_default=text("true"))
    __table_args__ = (
        CheckConstraint("start_time <> end_time", name="blackout_window_not_empty"),
        CheckConstraint("weekdays <@ ARRAY[1,2,3,4,5,6,7]::smallint[]", name="blackout_weekdays"),
    )


class ProviderMessage(Base):
    """The simulated providers' side: each idempotency key accepted (a real provider keeps
    these itself), and how often it was refused as a duplicate since; and the SMTP relay's
    keys, claimed before the message goes out (telebill/channels/smtp_keys.py)."""

    __tablename__ = "provider_message"
    channel: Mapped[str] = mapped_column(Text, primary_key=True)
    idempotency_key: Mapped[str] = mapped_column(Text, primary_key=True)
    accepted_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )
    refusals: Mapped[int] = mapped_column(Integer, server_default="0")
    # NULL: accepted. Set: claimed at that time by a sender whose message is going out now.
    sending_since: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class ReservedSend(Base):
    __tablename__ = "reserved_send"
    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    send_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    billing_month: Mapped[date] = mapped_column(Date)
    member_ids: Mapped[list[int] | None] = mapped_column(ARRAY(BigInteger))  # NULL: whole month
    status: Mapped[str] = mapped_column(Text, server_default="RESERVED")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    last_error: Mapped[str | None] = mapped_column(Text)  # why it is not dispatched yet
    __table_args__ = (
        CheckConstraint(first_of_month("billing_month"), name="reserved_send_month_first_day"),
        CheckConstraint(
            "status IN ('RESERVED', 'DISPATCHED', 'CANCELLED')", name="reserved_send_status"
        ),
        Index("reserved_send_status_at_idx", "status", "send_at"),
    )


class SendList(Base):
    """The members an admin's "send now" (or catch-up) names, in a row its dispatch refers to:
    a workflow input holds the row's id, never the list (up to a million ids)."""

    __tablename__ = "send_list"
    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    billing_month: Mapped[date] = mapped_column(Date)
    member_ids: Mapped[list[int]] = mapped_column(ARRAY(BigInteger))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class DeadLetter(Base):
    __tablename__ = "dead_letter"
    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    # the message it stands for (topic/partition/offset): one row however often it is published
    letter_key: Mapped[str] = mapped_column(Text, unique=True)
    event: Mapped[dict[str, Any]] = mapped_column(JSONB)
    reason: Mapped[str] = mapped_column(Text)
    first_error: Mapped[str | None] = mapped_column(Text)
    last_error: Mapped[str | None] = mapped_column(Text)
    bill_id: Mapped[int | None] = mapped_column(BigInteger)  # not a FK: the event may be malformed
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    replayed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class Settlement(Base):
    """One row per billing month: progress and totals of its settlement (정산) runs."""

    __tablename__ = "settlement"
    id: Mapped[str] = mapped_column(Text, primary_key=True)  # settlement-YYYY-MM
    billing_month: Mapped[date] = mapped_column(Date, unique=True)
    status: Mapped[str] = mapped_column(Text, server_default="RUNNING")
    runs: Mapped[int] = mapped_column(Integer, server_default="0")
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    members: Mapped[int] = mapped_column(BigInteger, server_default="0")
    last_run_bills: Mapped[int] = mapped_column(BigInteger, server_default="0")
    last_run_items: Mapped[int] = mapped_column(BigInteger, server_default="0")
    bills: Mapped[int] = mapped_column(BigInteger, server_default="0")
    items: Mapped[int] = mapped_column(BigInteger, server_default="0")
    errors: Mapped[int] = mapped_column(BigInteger, server_default="0")
    amount_due: Mapped[int] = mapped_column(BigInteger, server_default="0")
    totals: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default=text("'{}'::jsonb"))
    __table_args__ = (
        CheckConstraint(first_of_month("billing_month"), name="settlement_month_first_day"),
        CheckConstraint("status IN ('RUNNING', 'COMPLETED')", name="settlement_status"),
    )


class SettlementError(Base):
    """A member whose bill could not be made this month, and why (bad usage data, …)."""

    __tablename__ = "settlement_error"
    billing_month: Mapped[date] = mapped_column(Date, primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("member.id"), primary_key=True)
    settlement_id: Mapped[str] = mapped_column(Text)
    reason: Mapped[str] = mapped_column(Text)
    recorded_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )
    __table_args__ = (BY_MONTH,)


class ApiUser(Base):
    """Someone allowed to call the admin API: a role, and the SHA-256 of their token."""

    __tablename__ = "api_user"
    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    name: Mapped[str] = mapped_column(Text, unique=True)
    role: Mapped[str] = mapped_column(Text)
    token_sha256: Mapped[str] = mapped_column(Text, unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    # the token works until then; `telebill api user rotate` gives a new one and a new end
    expires_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=text("now() + interval '90 days'")
    )
    __table_args__ = (
        CheckConstraint("role IN ('viewer', 'operator', 'admin')", name="api_user_role"),
    )


class ConsoleSession(Base):
    """A signed-in console: the SHA-256 of its cookie, its user, its CSRF token, when it was
    last used and when it ends whatever happens."""

    __tablename__ = "console_session"
    id_sha256: Mapped[str] = mapped_column(Text, primary_key=True)
    user_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("api_user.id", ondelete="CASCADE"))
    csrf: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    last_seen_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    __table_args__ = (Index("console_session_user_idx", "user_id"),)


class AuditLog(Base):
    """Every state-changing call of the admin API: who, what, when, and how it ended."""

    __tablename__ = "audit_log"
    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    actor: Mapped[str] = mapped_column(Text)
    role: Mapped[str] = mapped_column(Text)
    action: Mapped[str] = mapped_column(Text)
    target: Mapped[dict[str, Any]] = mapped_column(JSONB)
    status: Mapped[int] = mapped_column(Integer)
    result: Mapped[str] = mapped_column(Text)
    # SHA-256 of the row before's and this row's content: an edit or a deletion breaks the chain
    row_sha256: Mapped[str | None] = mapped_column(Text)
    __table_args__ = (Index("audit_log_at_idx", "at"),)


class MonthArchive(Base):
    """A month written to Parquet by `telebill archive` (migration 0018): where, its manifest's
    digest, its rows per table, and when it was verified, dropped from the database, restored."""

    __tablename__ = "month_archive"
    billing_month: Mapped[date] = mapped_column(Date, primary_key=True)
    location: Mapped[str] = mapped_column(Text)
    manifest_sha256: Mapped[str] = mapped_column(Text)
    rows: Mapped[dict[str, Any]] = mapped_column(JSONB)
    bytes: Mapped[int] = mapped_column(BigInteger)
    archived_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )
    verified_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    dropped_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    restored_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    __table_args__ = (
        CheckConstraint(first_of_month("billing_month"), name="month_archive_first_day"),
    )


class MonthTally(Base):
    """The month's counts, kept by triggers on bill and notification (migration 0019), folded
    from month_tally_delta."""

    __tablename__ = "month_tally"
    billing_month: Mapped[date] = mapped_column(Date, primary_key=True)
    key: Mapped[str] = mapped_column(Text, primary_key=True)
    n: Mapped[int] = mapped_column(BigInteger)


class MonthTallyDelta(Base):
    """Each statement's net change of the month's counts, appended in the writer's transaction
    (insert-only: writers never wait on one another for a counter)."""

    __tablename__ = "month_tally_delta"
    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    billing_month: Mapped[date] = mapped_column(Date)
    key: Mapped[str] = mapped_column(Text)
    n: Mapped[int] = mapped_column(BigInteger)
    __table_args__ = (Index("month_tally_delta_month_idx", "billing_month"),)
