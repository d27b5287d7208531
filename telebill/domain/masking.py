"""Contact data as a role that does not need it sees it: enough to tell two members apart on a
call ("k***@example.com", "010-****-5678"), not enough to write to them.

Pure: no I/O.
"""

from __future__ import annotations


def mask_email(address: str) -> str:
    local, at, domain = address.partition("@")
    if not at:
        return "***"
    return f"{local[:1]}***@{domain}"


def mask_phone(number: str) -> str:
    digits = [c for c in number if c.isdigit()]
    if len(digits) < 8:
        return "***"
    return f"{''.join(digits[:3])}-****-{''.join(digits[-4:])}"


def mask_name(name: str) -> str:
    """김민수 → 김*수, Ann → A*n: Korean practice for names shown to those who do not need them."""
    if len(name) <= 1:
        return "*"
    if len(name) == 2:
        return name[0] + "*"
    return name[0] + "*" * (len(name) - 2) + name[-1]
