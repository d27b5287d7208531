"""Sandboxed jinja2 rendering: immutable sandbox, autoescape on, strict undefined, Korean won
formatting, and limits per message.

A template that fails is refused with its line and the reason (syntax error, unknown variable,
anything the sandbox forbids). A render may not exceed its limits (telebill/templates/limits.py:
the characters it writes, the steps it takes, its time). A template that exceeds one is refused
when it is added; a message that exceeds one at send time is a dead letter with the reason,
never a stalled or exhausted consumer.
"""

from __future__ import annotations

import html
from collections.abc import Callable, Iterator, Sequence
from datetime import date
from functools import lru_cache, partial
from types import TracebackType

from jinja2 import StrictUndefined, Template, TemplateError, TemplateSyntaxError

from telebill.errors import TelebillError
from telebill.templates.limits import (
    LIMITS,
    Budget,
    LimitedEnvironment,
    Limits,
    RenderLimit,
    current,
)

TEMPLATE_FILENAME = "<template>"


class TemplateInvalid(TelebillError):
    """The template cannot be used; says where (line) and why."""


def won(amount: int) -> str:
    """54890 → '54,890원'."""
    return f"{amount:,}원"


def month_ko(day: date) -> str:
    return f"{day.year}년 {day.month}월"


def date_ko(day: date) -> str:
    return f"{day.year}년 {day.month}월 {day.day}일"


def _environment() -> LimitedEnvironment:
    env = LimitedEnvironment(
        autoescape=True, undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True
    )
    env.filters.update(won=won, month_ko=month_ko, date_ko=date_ko)
    return env


ENV = _environment()


def _template_line(tb: TracebackType | None) -> int | None:
    line = None
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == TEMPLATE_FILENAME:
            line = tb.tb_lineno
        tb = tb.tb_next
    return line


def _invalid(what: str, exc: Exception, line: int | None) -> TemplateInvalid:
    where = f"line {line}: " if line else ""
    message = getattr(exc, "message", None) or str(exc)
    return TemplateInvalid(f"{what}: {where}{message}")


def compile_template(source: str, what: str = "template") -> Template:
    try:
        return _compiled(source)
    except TemplateSyntaxError as exc:
        raise _invalid(what, exc, exc.lineno) from None


@lru_cache(maxsize=64)
def _compiled(source: str) -> Template:
    # Compiling costs milliseconds; a consumer renders the same few versions thousands of times.
    return ENV.from_string(source)


def render(
    template: Template,
    context: dict[str, object],
    block: str | None = None,
    what: str = "template",
    limits: Limits = LIMITS,
) -> str:
    """Render the whole template, or one of its {% block %}s, within `limits`."""
    if block is not None:
        return render_blocks(template, context, [block], what, limits)[0]
    return _within_limits(lambda: template.generate(context), what, limits)


def render_blocks(
    template: Template,
    context: dict[str, object],
    blocks: Sequence[str],
    what: str = "template",
    limits: Limits = LIMITS,
) -> list[str]:
    """Several {% block %}s of one template (an e-mail's HTML and text), each within `limits`,
    over one render context: building it costs about as much as rendering a short block, and
    a block's own assignments stay inside the block."""
    for block in blocks:
        if block not in template.blocks:
            raise TemplateInvalid(f"{what}: has no {{% block {block} %}}")
    shared = template.new_context(context)
    return [
        _within_limits(partial(template.blocks[block], shared), what, limits) for block in blocks
    ]


def _within_limits(chunks_of: Callable[[], Iterator[str]], what: str, limits: Limits) -> str:
    token = current.set(Budget(limits))
    parts: list[str] = []
    written = 0
    try:
        for chunk in chunks_of():  # streamed, so a huge output is stopped before it is built
            written += len(chunk)
            if written > limits.max_chars:
                raise RenderLimit(f"writes more than {limits.max_chars:,} characters")
            parts.append(chunk)
        return "".join(parts)
    except RenderLimit as exc:
        line = _template_line(exc.__traceback__)
        where = f"line {line}: " if line else ""
        raise TemplateInvalid(f"{what}: {where}over the limit: {exc}") from None
    except TemplateError as exc:
        raise _invalid(what, exc, _template_line(exc.__traceback__)) from None
    except (RecursionError, MemoryError, ArithmeticError, ValueError, TypeError) as exc:
        line = _template_line(exc.__traceback__)
        raise _invalid(what, exc, line) from None
    finally:
        current.reset(token)


def to_plain_text(rendered: str) -> str:
    """A part rendered with autoescape, made plain again (for the text/plain alternative)."""
    return html.unescape(rendered)
