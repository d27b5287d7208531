"""Where a bill can be opened: the web page behind AlimTalk's button, the app's deep link."""

from __future__ import annotations

WEB = "https://m.telebill.example/bills/{bill_id}"
APP = "telebill://bills/{bill_id}"


def web_link(bill_id: int) -> str:
    return WEB.format(bill_id=bill_id)


def app_link(bill_id: int) -> str:
    return APP.format(bill_id=bill_id)
