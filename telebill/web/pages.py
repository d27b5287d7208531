"""What the bill page answers, as HTML: the bill (a summary around its e-mail in a frame), and
the same few fixed pages for everything else. Korean first, for a phone's screen.

Every value is escaped (jinja2, autoescape). The page's one style sheet is inline and allowed
by its hash alone; nothing else loads but the frame, from this site. The e-mail is HTML with
inline styles, as e-mail is written: it is served on its own (`letter`) with a policy of its
own, sandboxed, so that the page's policy stays strict (a `srcdoc` frame would inherit it).
"""

from __future__ import annotations

import base64
import hashlib

from jinja2 import Environment
from markupsafe import Markup
from starlette.responses import HTMLResponse

from telebill.rendering.context import BillContext
from telebill.rendering.render import date_ko, month_ko, won

STYLE = (
    "*{box-sizing:border-box}"
    "html,body{margin:0;height:100%}"
    "body{display:flex;flex-direction:column;height:100dvh;background:#f3f5f8;color:#1f2933;"
    "font-family:'Noto Sans KR','Apple SD Gothic Neo','Malgun Gothic',sans-serif;"
    "word-break:keep-all;overflow-wrap:anywhere}"
    "header{background:#1d4ed8;color:#fff;padding:16px 20px}"
    ".brand{margin:0;font-size:13px;opacity:.85}"
    "h1{margin:4px 0 12px;font-size:20px;line-height:1.3}"
    "dl{margin:0;display:flex;flex-wrap:wrap;gap:8px 20px}"
    "dl div{flex:1 1 140px}"
    "dt{font-size:13px;opacity:.85}"
    "dd{margin:2px 0 0;font-size:24px;font-weight:700}"
    "dd.due{font-size:17px}"
    "main{flex:1;min-height:0;display:flex}"
    "iframe{flex:1;width:100%;border:0;background:#f3f5f8}"
    ".message{display:block;flex:none;max-width:480px;margin:48px auto 0;padding:0 24px;"
    "text-align:center;line-height:1.6}"
    ".message h1{font-size:20px}"
    ".en{color:#64748b;font-size:14px}"
)
_STYLE_HASH = base64.b64encode(hashlib.sha256(STYLE.encode()).digest()).decode()
PAGE_POLICY = (
    f"default-src 'none'; style-src 'sha256-{_STYLE_HASH}'; frame-src 'self'; img-src 'self'; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
LETTER_POLICY = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src data:; sandbox; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'self'"
)

_ENV = Environment(autoescape=True)
_LAYOUT = _ENV.from_string(
    """<!DOCTYPE html>
<html lang="ko">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<meta name="robots" content="noindex, nofollow">
<title>{{ title }}</title>
<style>{{ style }}</style>
</head>
<body>
{{ content }}
</body>
</html>
"""
)
_BILL = _ENV.from_string(
    """<header>
<p class="brand">텔레빌 모바일</p>
<h1>{{ month }} 요금 청구서</h1>
<dl>
<div><dt>납부하실 금액</dt><dd id="amount-due">{{ amount }}</dd></div>
<div><dt>납부기한</dt><dd class="due" id="due-date">{{ due }}</dd></div>
</dl>
</header>
<main>
<iframe src="{{ letter }}" title="{{ month }} 청구서 상세 내역" sandbox
 referrerpolicy="no-referrer"></iframe>
</main>"""
)
_MESSAGE = _ENV.from_string(
    """<main class="message">
<h1>{{ korean }}</h1>
<p>{{ korean_detail }}</p>
<p class="en" lang="en">{{ english }}</p>
</main>"""
)


def _document(title: str, content: str) -> str:
    # Not escaped again on purpose: `content` is _PAGE's or _MESSAGE's output, rendered by this
    # autoescaping environment (every value in it already escaped), and STYLE is a constant.
    return _LAYOUT.render(title=title, style=Markup(STYLE), content=Markup(content))


def bill_html(bill: BillContext, letter: str) -> str:
    """The page of one bill; `letter` is where its frame loads the e-mail from."""
    month = month_ko(bill.bill.billing_month)
    content = _BILL.render(
        month=month,
        amount=won(bill.bill.amount_due),
        due=date_ko(bill.bill.due_date),
        letter=letter,
    )
    return _document(f"{month} 요금 청구서 · 텔레빌", content)


def _message(title: str, korean: str, korean_detail: str, english: str) -> str:
    content = _MESSAGE.render(korean=korean, korean_detail=korean_detail, english=english)
    return _document(f"{title} · 텔레빌", content)


# One body for every link that does not open a bill, whatever was wrong with it.
NOT_FOUND = _message(
    "청구서를 열 수 없습니다",
    "청구서를 열 수 없습니다",
    "링크가 올바르지 않거나 유효 기간이 지났습니다. 가장 최근에 받으신 청구서 안내 메시지의 "
    "링크로 다시 열어 주세요.",
    "This bill link is not valid, or it has expired. Please open the link in your latest "
    "bill message.",
)
TOO_MANY = _message(
    "잠시 후 다시 시도해 주세요",
    "요청이 너무 많습니다",
    "잠시 후 다시 시도해 주세요.",
    "Too many requests from your address; please try again shortly.",
)
UNAVAILABLE = _message(
    "잠시 후 다시 시도해 주세요",
    "지금은 청구서를 보여 드릴 수 없습니다",
    "잠시 후 다시 시도해 주세요.",
    "The bill cannot be shown right now; please try again shortly.",
)
FAILED = _message(
    "문제가 발생했습니다",
    "문제가 발생했습니다",
    "잠시 후 다시 시도해 주세요. 계속되면 고객센터(114)로 문의해 주세요.",
    "Something went wrong on our side; please try again shortly.",
)


def letter_page(html: str) -> HTMLResponse:
    """The e-mail, framed by the page only, under its own policy (see above)."""
    return HTMLResponse(
        html, headers={"Content-Security-Policy": LETTER_POLICY, "X-Frame-Options": "SAMEORIGIN"}
    )
