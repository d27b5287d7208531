"""Renders in helper processes: a render that outlives its time is killed and its helper
replaced, one that outgrows its memory is stopped by the kernel's limit, and neither holds up
the caller's event loop or the next render."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from telebill.channels import channel
from telebill.channels.base import TemplateSource
from telebill.errors import Busy
from telebill.rendering.context import sample_context
from telebill.rendering.render import TemplateInvalid
from telebill.templates.isolated import IsolatedRenderer

SAMPLE = {"": sample_context()}
# 200,000 loop steps: whichever of its limits the render meets, it takes far longer than 0.01 s
SLOW = "{% for i in range(400) %}{% for j in range(500) %}{% endfor %}{% endfor %}"
# twenty values of two million bytes each (a 4-byte character, the largest value allowed): the
# render's own budget allows them, a 32 MB helper does not
BIG = "".join(
    f"{{% set v{i} = ('\U0001f4e7' * 499990) ~ '{i}' %}}{{{{ v{i}|length }}}}" for i in range(20)
)


def sms(body: str) -> TemplateSource:
    return TemplateSource("sms", "t", 0, None, body)


@pytest.fixture
async def renderer() -> AsyncIterator[IsolatedRenderer]:
    r = IsolatedRenderer(processes=1, timeout_s=0.05, memory_mb=32)
    yield r
    r.close()


async def test_a_render_past_its_time_is_killed_and_the_next_one_gets_a_new_helper(
    renderer: IsolatedRenderer,
) -> None:
    renderer.timeout_s = 30  # the first render starts the helper
    assert (await renderer.render(sms("{{ bill.amount_due|won }}"), SAMPLE)).body == "132,230원"
    renderer.timeout_s = 0.01  # the render takes ~50 ms here (200,000 steps)
    ticks = 0

    async def loop_stays_free() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.001)
            ticks += 1

    ticker = asyncio.create_task(loop_stays_free())
    with pytest.raises(TemplateInvalid, match=r"stopped after 0\.01 s"):
        await renderer.render(sms(SLOW), SAMPLE)
    ticker.cancel()
    assert ticks > 0  # the event loop ran while the helper worked
    renderer.timeout_s = 30
    again = await renderer.render(sms("{{ member.name }}"), SAMPLE)
    assert again.body == "남궁민수"


async def test_a_render_past_its_memory_is_stopped_and_the_helper_replaced(
    renderer: IsolatedRenderer,
) -> None:
    renderer.timeout_s = 60
    with pytest.raises(TemplateInvalid, match="more than 32 MB"):
        await renderer.render(sms(BIG), SAMPLE)
    assert (await renderer.render(sms("ok"), SAMPLE)).body == "ok"


async def test_every_helper_busy_is_a_refusal_to_try_again_not_a_wait(
    renderer: IsolatedRenderer,
) -> None:
    renderer.timeout_s = 30
    await renderer.render(sms("warm"), SAMPLE)
    slow = asyncio.create_task(renderer.render(sms(SLOW), SAMPLE))
    for _ in range(10_000):  # until the slow one has taken the only helper (for up to 30 s)
        if not renderer.free():
            break
        await asyncio.sleep(0.001)
    renderer.timeout_s = 0.001  # the slow one holds it for 200,000 steps: far longer
    with pytest.raises(Busy):
        await renderer.render(sms("{{ 1 }}"), SAMPLE)
    with pytest.raises(TemplateInvalid):
        await slow


async def test_a_template_add_is_checked_against_every_shape_and_names_the_one_that_fails(
    renderer: IsolatedRenderer,
) -> None:
    renderer.timeout_s = 30
    shapes = {"with a sample": sample_context(), "with no items": sample_context()}
    shapes["with no items"] = type(sample_context())(
        sample_context().member, sample_context().bill, []
    )
    with pytest.raises(TemplateInvalid, match="with no items"):
        await renderer.render(sms("{{ items[0].label }}"), shapes)
    email = channel("email").default_template()
    assert (await renderer.render(email, shapes)).kind == "EMAIL"
