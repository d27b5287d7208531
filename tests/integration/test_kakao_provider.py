"""The simulated AlimTalk provider applies Kakao's rules for good: a number that is not a
KakaoTalk user, or a text that is not its stored (approved) template filled in, is refused
permanently, so the chain moves on without retries; other numbers get the message."""

from __future__ import annotations

from dataclasses import replace

import asyncpg
import pytest

from telebill.channels import channel
from telebill.channels.base import DeliveryFailed
from telebill.channels.kakao_simulated import MISMATCH, NOT_A_USER, KakaoRules, is_user
from telebill.channels.simulated import SimulatedSender
from telebill.config import asyncpg_dsn
from telebill.rendering.context import sample_context
from telebill.templates.store import get_template, install_defaults
from tests.integration.conftest import Databases

PHONES = [f"010-{n // 10_000:04d}-{n % 10_000:04d}" for n in range(2_000)]


def test_about_the_set_share_of_numbers_are_not_users_and_always_the_same_ones() -> None:
    out = [p for p in PHONES if not is_user(p, 0.05)]
    assert 60 <= len(out) <= 140  # 5% of 2,000, give or take
    assert out == [p for p in PHONES if not is_user(p, 0.05)]
    assert all(is_user(p, 0.0) for p in PHONES) and not any(is_user(p, 1.0) for p in PHONES)


async def test_kakao_refuses_for_good_what_it_would_never_deliver(databases: Databases) -> None:
    url = await databases.create()
    pool = await asyncpg.create_pool(asyncpg_dsn(url), min_size=1, max_size=2)
    assert pool is not None
    try:
        async with pool.acquire() as conn:
            await install_defaults(conn)
            approved = await get_template(conn, "alimtalk")
        kakao = SimulatedSender(0.0, 0.0, refusal=KakaoRules(pool, 0.05).refusal)
        message = channel("alimtalk").render(approved, sample_context())
        user = next(p for p in PHONES if is_user(p, 0.05))
        stranger = next(p for p in PHONES if not is_user(p, 0.05))
        assert await kakao.send(user, message) is True
        with pytest.raises(DeliveryFailed, match=NOT_A_USER) as refused:
            await kakao.send(stranger, message)
        assert refused.value.permanent
        edited = replace(message, body=message.body + " 지금 바로 확인!")
        with pytest.raises(DeliveryFailed, match=MISMATCH) as mismatch:
            await kakao.send(user, edited)
        assert mismatch.value.permanent
        draft = replace(message, template_version=0)  # never submitted to Kakao
        with pytest.raises(DeliveryFailed, match=MISMATCH):
            await kakao.send(user, draft)
    finally:
        await pool.close()
