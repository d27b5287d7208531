"""Sandboxed jinja2 rendering: immutable sandbox, autoescape on, strict undefined, Korean won
formatting, and limits per message.

A template that fails is refused with its line and the reason (syntax error, unknown variable,
anything the sandbox forbids). A render may not exceed its limits (telebill/rendering/limits.py:
the characters it writes, the steps it takes, its time). A template that exceeds one is refused
when it is added; a message that exceeds one at send time is a dead letter with the reason,
never a stalled or exhausted consumer.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from functools import lru_cache
from types import TracebackType
from typing import Any

from jinja2 import StrictUndefined, Template, TemplateError, TemplateSyntaxError
from jinja2.runtime import Context

from telebill.errors import TelebillError
from telebill.rendering.limits import (
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


class OverTheLimit(TemplateInvalid):
    """A render went past one of its limits (time, steps, size): it cost the most to find out."""


def won(amount: int) -> str:
    """54890 → '54,890원'."""
    return f"{amount:,}원"


def month_ko(day: date) -> str:
    return f"{day.year}년 {day.month}월"


def date_ko(day: date) -> str:
    return f"{day.year}년 {day.month}월 {day.day}일"


def _environment(autoescape: bool) -> LimitedEnvironment:
    env = LimitedEnvironment(
        autoescape=autoescape, undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True
    )
    env.filters.update(won=won, month_ko=month_ko, date_ko=date_ko)
    return env


ENV = _environment(autoescape=True)  # HTML: every value escaped
# Plain text (an e-mail's text part, its subject, an SMS): nothing to escape, and nothing to
# unescape afterwards. Same sandbox and limits.
PLAIN_ENV = _environment(autoescape=False)


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


def compile_template(source: str, what: str = "template", plain: bool = False) -> Template:
    """The template compiled for HTML (values escaped) or, with `plain`, for plain text."""
    try:
        return _compiled(source, plain)
    except TemplateSyntaxError as exc:
        raise _invalid(what, exc, exc.lineno) from None
    except (RecursionError, SyntaxError, MemoryError) as exc:
        # nesting deeper than the parser or Python's compiler takes (~80 parentheses, 100
        # nested blocks): the template's fault, said in one line
        raise TemplateInvalid(f"{what}: nested too deeply ({type(exc).__name__})") from None


@lru_cache(maxsize=64)
def _compiled(source: str, plain: bool) -> Template:
    # Compiling costs milliseconds; a consumer renders the same few versions thousands of times.
    return (PLAIN_ENV if plain else ENV).from_string(source)


@lru_cache(maxsize=64)
def _globals(template: Template) -> dict[str, Any]:
    return dict(template.globals)


def _context(template: Template, data: dict[str, object]) -> Context:
    # What Template.new_context builds, without reading the globals' ChainMap on every render
    # (half the cost of a context, which an e-mail needs three of).
    return template.new_context({**_globals(template), **data}, shared=True)


def render(
    template: Template,
    context: dict[str, object],
    block: str | None = None,
    what: str = "template",
    limits: Limits = LIMITS,
) -> str:
    """Render the whole template, or one of its {% block %}s, within `limits`."""
    if block is None:
        render_func = template.root_render_func
    elif block in template.blocks:
        render_func = template.blocks[block]
    else:
        raise TemplateInvalid(f"{what}: has no {{% block {block} %}}")
    ctx = _context(template, context)
    token = current.set(Budget(limits))
    parts: list[str] = []
    written = 0
    try:
        for chunk in _chunks(template, render_func, ctx):  # streamed: stopped before it is huge
            written += len(chunk)
            if written > limits.max_chars:
                raise RenderLimit(f"writes more than {limits.max_chars:,} characters")
            parts.append(chunk)
        return "".join(parts)
    except RenderLimit as exc:
        line = _template_line(exc.__traceback__)
        where = f"line {line}: " if line else ""
        raise OverTheLimit(f"{what}: {where}over the limit: {exc}") from None
    except TemplateError as exc:
        raise _invalid(what, exc, _template_line(exc.__traceback__)) from None
    except MemoryError:
        raise  # the process's own limit (a helper's RLIMIT_AS): its caller says which
    except Exception as exc:  # whatever a filter or method raises is the template's fault
        line = _template_line(exc.__traceback__)
        raise _invalid(what, exc, line) from None
    finally:
        current.reset(token)


def _chunks(template: Template, render_func: Any, ctx: Context) -> Iterator[str]:
    try:
        yield from render_func(ctx)
    except Exception:  # as Template.generate does: the traceback points at template lines
        yield template.environment.handle_exception()
