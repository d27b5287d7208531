"""Generators that hunt for the next template that stalls or exhausts whatever renders it: a
grammar of hostile expressions (every operation that builds a string, a list or a number, in
any combination, in loops that feed a value back into itself, behind a branch) rendered with
the consumers' limits. Each render ends as text within the limit or as a refusal with a reason,
within a bound in time and memory; never a crash, never a hang."""

from __future__ import annotations

import time
import tracemalloc

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from telebill.rendering.context import sample_context
from telebill.rendering.limits import LIMITS
from telebill.rendering.render import TemplateInvalid, compile_template, render

CONTEXT = sample_context().for_template()
HUNT = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
ATOMS = [
    "'x'",
    "'ab\\t'",
    "'%s%s'",
    "'{}{}{0}'",
    "'\\n'",
    "items",
    "bill.amount_due",
    "member.name",
    "range(1000)|list",
    "[1, 2]",
    "{'a': 'b'}",
    "99999",
    "7",
    "2",
    "1000000",
    "-3",
]
SIZES = st.sampled_from(["2", "99", "4000", "100000", "499999", "500001", "10**6", "2**62"])


def _grow(inner: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    two = st.tuples(inner, inner)
    sized = st.tuples(inner, SIZES)
    return st.one_of(
        two.map(lambda t: f"({t[0]}) * ({t[1]})"),
        two.map(lambda t: f"({t[0]}) + ({t[1]})"),
        two.map(lambda t: f"({t[0]}) ~ ({t[1]})"),
        two.map(lambda t: f"({t[0]}) % ({t[1]})"),
        two.map(lambda t: f"({t[0]}) ** ({t[1]})"),
        two.map(lambda t: f"({t[0]}).join({t[1]})"),
        two.map(lambda t: f"({t[0]})|join({t[1]})"),
        two.map(lambda t: f"({t[0]}).format({t[1]}, {t[1]})"),
        two.map(lambda t: f"({t[0]})|format({t[1]})"),
        two.map(lambda t: f"({t[0]}).replace('', {t[1]})"),
        two.map(lambda t: f"({t[0]})|replace('x', {t[1]})"),
        two.map(lambda t: f"[{t[0]}, {t[1]}, {t[0]}]"),
        two.map(lambda t: f"({t[0]})|batch(3, {t[1]})|list"),
        two.map(lambda t: f"({t[0]})|sum(start={t[1]})"),
        sized.map(lambda t: f"({t[0]}).expandtabs({t[1]})"),
        sized.map(lambda t: f"({t[0]}).ljust({t[1]})"),
        sized.map(lambda t: f"({t[0]}).rjust({t[1]})"),
        sized.map(lambda t: f"({t[0]}).zfill({t[1]})"),
        sized.map(lambda t: f"({t[0]})|center({t[1]})"),
        sized.map(lambda t: f"({t[0]})|indent({t[1]})"),
        sized.map(lambda t: f"({t[0]})|wordwrap(1, true, ({t[0]}) * {t[1]})"),
        sized.map(lambda t: f"({t[0]})|slice({t[1]})|list"),
        sized.map(lambda t: f"[{t[0]}] * {t[1]}"),
        inner.map(lambda a: f"({a})|string"),
        inner.map(lambda a: f"({a})|tojson"),
        inner.map(lambda a: f"({a})|e|e"),
        inner.map(lambda a: f"({a})|int"),
        inner.map(lambda a: f"({a})|list|unique|list"),
        inner.map(lambda a: f"({a})[1:]"),
        inner.map(lambda a: f"[({a})[::2], ({a})[1:], ({a})[:-1]]"),
        inner.map(lambda a: f"({a})|select('ne', 'y')|select('ne', 'z')|list"),
        two.map(lambda t: f"('%*s' % ({t[1]}, {t[0]}))"),
        two.map(lambda t: f"('{{:{{}}}}'.format({t[0]}, {t[1]}))"),
        two.map(lambda t: f"({t[0]})|tojson(indent={t[1]})"),
    )


EXPRESSIONS = st.recursive(st.sampled_from(ATOMS), _grow, max_leaves=6)


def _fed_back(e: str, n: str) -> str:
    """A value fed back into itself in a loop: each round may double it."""
    grown = e.replace("'x'", "ns.v")
    return (
        f"{{% set ns = namespace(v='x') %}}{{% for i in range({n}) %}}"
        f"{{% set ns.v = {grown} %}}{{% endfor %}}{{{{ ns.v }}}}"
    )


TEMPLATES = st.one_of(
    EXPRESSIONS.map(lambda e: f"{{{{ {e} }}}}"),
    st.tuples(EXPRESSIONS, st.sampled_from(["10", "40", "1000"])).map(lambda t: _fed_back(*t)),
    EXPRESSIONS.map(
        lambda e: f"{{% if bill.id == 1 %}}nothing{{% else %}}{{{{ {e} }}}}{{% endif %}}"
    ),
    EXPRESSIONS.map(
        lambda e: (
            f"{{% set b %}}{{% for i in range(1000) %}}{{{{ {e} }}}}{{% endfor %}}"
            "{% endset %}{{ b }}"
        )
    ),
    EXPRESSIONS.map(
        lambda e: f"{{% macro m(n) %}}{{{{ {e} }}}}{{{{ m(n) }}}}{{% endmacro %}}{{{{ m(1) }}}}"
    ),
)
# What the hunt found, kept as permanent examples.
FOUND = [
    "{% for i in range(20) %}{{ ('x' * 10000).join('y' * 10000)|length }}{% endfor %}",
    "{{ ('\\t' * 400000).expandtabs(100000) }}",
    "{{ 'a'.ljust(400000) ~ 'b'.rjust(400000) ~ 'c'.rjust(400000) }}",
    "{{ ('x' * 400000) + ('x' * 400000) }}",
    "{{ ([('x' * 400000)] * 400000)|join }}",
    "{{ [('x' * 400000)] * 2 }}",
    _fed_back("'x' ~ 'x'", "40"),
    _fed_back("('x') * 2", "40"),
    "{% set ns = namespace(v=3) %}{% for i in range(30) %}{% set ns.v = ns.v * ns.v %}"
    "{% endfor %}{{ ns.v }}",
    "{{ range(1000)|batch(400000, 'x' * 1000)|list }}",
    "{{ [[1] * 1000] * 1000|sum(start=[]) }}",
    "{% for i in range(1000) %}{% set a = 'x' * 499999 %}{{ a|length }}{% endfor %}",
    "{{ ('\\n' * 100000)|indent(400000) }}",
    "{{ ('%s' * 1000) % (('x' * 1000,) * 1000) }}",
    "{{ 'x'|wordwrap(1, true, 'y' * 400000) }}",
    # found by a review that attacked the first version of the bounds (issue 30)
    "{% set s = '\U0001f600' * 499999 %}{% set l = [" + ", ".join(["s[1:]"] * 100) + "] %}ok",
    "{% set b = 'a'.encode() * 300000000 %}ok",
    "{{ ('%*s' % (300000000, 'x'))|length }}",
    "{{ ('{:{}}'.format('x', 300000000))|length }}",
    "{{ ([1, 2, 3]|tojson(indent=100000000))|length }}",
    "{{ (('a' * 1000).translate({97: 'b' * 300000}))|length }}",
    "{{ (')' * 20000 ~ 'a)')|urlize|length }}",
    "{% set s = 'x' * 400000 %}{{ s" + "|select('ne', 'y')" * 50 + "|list|length }}",
    "{% set s %}{% for i in range(1, 15001) %}{{ i * 2305843009213693951 }} {% endfor %}"
    "{% endset %}{{ s.split()|map('int')|list|unique|list|length }}",
    "{{ " + "(" * 100 + "1" + ")" * 100 + " }}",
    "{% if true %}" * 101 + "x" + "{% endif %}" * 101,
]


def rendered(body: str) -> str | None:
    try:
        out = render(compile_template(body, plain=True), CONTEXT, what="hunted")
    except TemplateInvalid:
        return None
    assert len(out) <= LIMITS.max_chars
    return out


def assert_bounded(body: str) -> None:
    start = time.perf_counter()
    rendered(body)
    elapsed = time.perf_counter() - start
    # The render's own limit, plus one step past it: a step is sized before it runs, so the
    # largest costs a few milliseconds (the bound is generous for a shared machine).
    assert elapsed <= LIMITS.max_seconds + 1.0, f"{elapsed:.2f} s: {body[:200]}"
    tracemalloc.start()
    try:
        rendered(body)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    # built in all: 20 times the largest value, 4 bytes a character at worst
    assert peak <= 20 * LIMITS.max_chars * 4 + 16_000_000, f"{peak:,} bytes: {body[:200]}"


@HUNT
@given(TEMPLATES)
def test_any_template_the_grammar_writes_renders_within_bounds_or_is_refused(body: str) -> None:
    assert_bounded(body)


@pytest.mark.parametrize("body", FOUND)
def test_the_templates_found_so_far_are_refused_within_bounds(body: str) -> None:
    assert_bounded(body)
    assert rendered(body) is None or "{% set a" in body or "length" in body, body[:80]


def test_a_costly_branch_is_bounded_too_whichever_bill_takes_it() -> None:
    guarded = "{% if bill.id == 424242 %}{{ ([('x' * 400000)] * 400000)|join }}{% endif %}ok"
    assert rendered(guarded) == "ok"  # the sample bill does not take it
    taken = guarded.replace("424242", str(CONTEXT["bill"]["id"]))  # type: ignore[index]
    with pytest.raises(TemplateInvalid, match="over the limit"):
        render(compile_template(taken, plain=True), CONTEXT)
