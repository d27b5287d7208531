"""The delivery key's unique constraint, as ON CONFLICT names it: one notification per bill and
purpose. It includes the month because `notification` is partitioned by it (migration 0017); a
bill belongs to one month, so the key is exactly (bill, purpose)."""

DELIVERY_KEY = "(bill_id, purpose, billing_month)"
