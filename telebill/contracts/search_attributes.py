"""The notification workflows' search attributes (telebill/contracts/notification.py is their
family's contract): registered by `telebill stack`, set by the starters (the gateway), kept up
to date by the workflow, shown and searched in Temporal UI. No personal data: ids, a month, a
status and an instant."""

from __future__ import annotations

from temporalio.common import SearchAttributeKey

BILLING_MONTH = SearchAttributeKey.for_keyword("BillingMonth")
NOTIFY_STATUS = SearchAttributeKey.for_keyword("NotifyStatus")  # a NotifyStatus value
SEND_AT = SearchAttributeKey.for_datetime("SendAt")
MEMBER_ID = SearchAttributeKey.for_int("MemberId")
