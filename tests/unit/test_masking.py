"""Masked contact data keeps nothing one could write to."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from telebill.domain.masking import mask_email, mask_name, mask_phone


@given(st.emails())
def test_a_masked_address_keeps_its_first_letter_and_domain_only(address: str) -> None:
    local, _, domain = address.partition("@")
    masked = mask_email(address)
    assert masked == f"{local[0]}***@{domain}"  # whatever the local part was, one letter of it


@given(st.from_regex(r"01[016789]-?\d{3,4}-?\d{4}", fullmatch=True))
def test_a_masked_phone_keeps_the_carrier_prefix_and_last_four(number: str) -> None:
    digits = "".join(c for c in number if c.isdigit())
    assert mask_phone(number) == f"{digits[:3]}-****-{digits[-4:]}"


def test_names() -> None:
    assert [mask_name(n) for n in ("김민수", "남궁민수", "이현", "A", "")] == [
        "김*수",
        "남**수",
        "이*",
        "*",
        "*",
    ]
