"""What a month's usage can be: the most a line can carry at its speeds, and the member's limit
on micro-payments (소액결제 한도). Each check returns the reason a bill is refused, or None.

Sizes: 1 MB = 2^20 bytes (allowances are sold as 110 GB = 112,640 MB); speeds in kbit/s of 1,000
bits, so one kbit/s carries 125 bytes a second.
"""

from __future__ import annotations

from telebill.domain.proration import Period

MB = 2**20
BYTES_PER_KBIT = 125


def max_data_mb(
    period: Period, max_speed_kbps: int, allowance_mb: int | None, throttle_kbps: int | None
) -> int:
    """The most data a line can move in `period`: at full speed all the time, or, on a plan
    throttled after its allowance, the allowance at full speed and the rest of the period at the
    throttled speed. Exact integer arithmetic (floored to whole MB): the allowance takes
    A·MB / (max·125) seconds, and the rest of the period moves throttle·125 bytes a second."""
    full_bytes = max_speed_kbps * BYTES_PER_KBIT * period.seconds
    if allowance_mb is None or throttle_kbps is None or allowance_mb * MB >= full_bytes:
        return full_bytes // MB
    allowance_bytes = allowance_mb * MB
    # (A·MB + throttle·125·(T − A·MB/(max·125))) / MB, over one denominator max·MB
    numerator = (
        allowance_bytes * max_speed_kbps
        + throttle_kbps * BYTES_PER_KBIT * period.seconds * max_speed_kbps
        - throttle_kbps * allowance_bytes
    )
    return numerator // (max_speed_kbps * MB)


def impossible_usage(
    subscription_id: int,
    period: Period | None,
    data_mb: int,
    voice_sec: int,
    max_speed_kbps: int | None,
    allowance_mb: int | None,
    throttle_kbps: int | None,
) -> str | None:
    """Why this usage cannot have happened on this line in this month, or None."""
    if period is None:
        if data_mb or voice_sec:
            return f"usage of subscription {subscription_id} in a month it was not active"
        return None
    if voice_sec > period.seconds:
        return (
            f"{voice_sec:,} s of calls on subscription {subscription_id}: more than the "
            f"{period.seconds:,} s of its {period.days} active days"
        )
    if max_speed_kbps is not None:
        most = max_data_mb(period, max_speed_kbps, allowance_mb, throttle_kbps)
        if data_mb > most:
            return (
                f"{data_mb:,} MB of data on subscription {subscription_id}: more than the "
                f"{most:,} MB its speeds allow in {period.days} days"
            )
    return None


def over_micro_limit(micro_krw: int, limit_krw: int | None) -> str | None:
    if limit_krw is not None and micro_krw > limit_krw:
        return (
            f"micro-payments of {micro_krw:,}원 over the member's monthly limit of {limit_krw:,}원"
        )
    return None
