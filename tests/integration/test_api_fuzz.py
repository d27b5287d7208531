"""An attacker's suite: Schemathesis generates requests from the served OpenAPI schema (valid
ones and deliberately invalid ones) and sends them over HTTP to a real `telebill api serve`, as
each role and with no credentials. Every answer must be one the schema declares (status, content
type, body) and never a 500; a role below a route's own is refused (401/403) whatever it sends;
and the fuzzing of a role leaves unchanged every table that role may not change.

Generation is derandomized: a rerun sends the same requests, so a failure reported here (with
its `curl` line) is reproduced by running this file again."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis import BaseSchema, Case, CheckContext, GenerationMode, Response
from schemathesis.checks import not_a_server_error
from schemathesis.core.result import Err
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from telebill.config import Settings
from telebill.domain.roles import Role
from tests.integration.api_server import ApiServer, api_server
from tests.integration.conftest import Databases
from tests.integration.notify_stack import MONTH, NotifyStack, prepare
from tests.integration.test_authorization import NEEDS

AnyCase = Case[Any]
Check = Callable[[CheckContext, Response, AnyCase], bool | None]

# Examples per operation and mode (below). The caller is checked before anything else, so a few
# show that every route refuses an anonymous one; the roles get more, to reach the parameters'
# edges. About 2,000 requests, a minute in all on two cores.
EXAMPLES: dict[Role | None, int] = {None: 3, Role.VIEWER: 10, Role.OPERATOR: 10, Role.ADMIN: 12}
# Valid requests with every parameter generated (mostly ids that name nothing), valid requests
# about what the installation has (its month, member 1, the SMS template: the code behind the
# lookups), and invalid requests.
MODES = (
    ("valid", GenerationMode.POSITIVE, False),
    ("valid, real ids", GenerationMode.POSITIVE, True),
    ("invalid", GenerationMode.NEGATIVE, False),
)
REAL: dict[str, object] = {
    "month_id": MONTH,
    "member_id": 1,
    "bill_id": 1,
    "reservation_id": 1,
    "channel": "sms",
    "code": "monthly_bill",
    "name": "night",
}
CHECKS: list[Check] = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    # Most routes declare a free-form object or list (`dict[str, Any]`), so for them this
    # checks the JSON's outer shape; the refusals and FastAPI's 422 are checked field by field.
    response_schema_conformance,
]
REFUSAL: dict[Role | None, int] = {None: 401, Role.VIEWER: 403, Role.OPERATOR: 403}
# What the API's middleware refuses before any route (telebill/api/middleware.py).
AT_THE_DOOR = {(413, "request body too large"), (400, "a NUL character in the path or query")}
# Only admin routes write these (the console's sessions: no route of the API does): an operator
# who fuzzes every route must leave them as they were. Below the operator, every table is kept.
ADMIN_ONLY = ("member", "blackout_window", "message_template", "api_user", "console_session")


@dataclass
class Target:
    stack: NotifyStack
    api: ApiServer
    schema: BaseSchema
    # Operations with nothing to make invalid (only free-text path parameters), learnt once:
    # Hypothesis spends half a second finding that out.
    no_negative: set[str] = field(default_factory=set)


@pytest.fixture(scope="module")
async def target(settings: Settings) -> AsyncIterator[Target]:
    """One installation and one served API for every role, started once; the roles run from
    the least privileged up, so what a role may change is changed after the checks of those
    that may not."""
    databases = Databases(settings)
    try:
        stack = await prepare(databases, settings, 3)
        try:
            async with api_server(stack, "fuzz") as api:
                url = f"{api.url}/openapi.json"
                schema = await asyncio.to_thread(schemathesis.openapi.from_url, url)
                yield Target(stack, api, schema)
        finally:
            await stop_workflows(stack)
            await stack.conn.close()
    finally:
        await databases.drop_all()


async def stop_workflows(stack: NotifyStack) -> None:
    """The settlements and dispatches the fuzzing started (no worker runs them here): ended, so
    they do not wait in the shared Temporal server. Its visibility lags a little, so one just
    started may be missed; it only waits, as it would have."""
    query = f"WorkflowId STARTS_WITH '{stack.settings.workflow_id_prefix}'"
    async for w in stack.client.list_workflows(f"{query} AND ExecutionStatus = 'Running'"):
        await stack.client.get_workflow_handle(w.id, run_id=w.run_id).terminate("fuzzing over")


def refused_below(role: Role | None) -> Check:
    """The authorization matrix as a check: a route this role may not use refuses it, whatever
    the parameters and body (the caller is checked before they are read)."""

    def refused(ctx: CheckContext, response: Response, case: AnyCase) -> bool | None:
        needed = NEEDS[(case.method.upper(), case.operation.path)]
        if needed is None or (role is not None and role.allows(needed)):
            return None
        if (response.status_code, _detail(response)) in AT_THE_DOOR:
            return None  # refused before anyone is asked who they are: fine for anyone
        expected = REFUSAL[role]
        assert response.status_code == expected, (
            f"{role or 'anonymous'} got {response.status_code}, not {expected}, from "
            f"{case.method} {case.formatted_path}: {response.text[:300]}"
        )
        return None

    return refused


def _detail(response: Response) -> object:
    try:
        return response.json().get("detail")
    except (ValueError, AttributeError):
        return None


@dataclass
class Outcome:
    requests: int = 0
    failures: list[str] = field(default_factory=list)


def fuzz(target: Target, role: Role | None) -> Outcome:
    """Every operation of the schema in each mode, as `role`."""
    session = requests.Session()
    if role is not None:
        session.headers["Authorization"] = f"Bearer {target.api.tokens[role]}"
    checks = [*CHECKS, refused_below(role)]
    outcome = Outcome()
    for result in target.schema.get_all_operations():
        if isinstance(result, Err):
            outcome.failures.append(f"an operation Schemathesis cannot read: {result.err()}")
            continue
        operation = result.ok()
        key = operation.label
        real = {n: REAL[n] for n in re.findall(r"\{(\w+)\}", operation.path)}
        query = {"month_id": MONTH} if operation.path.endswith("/plan") else {}
        for name, mode, fixed in MODES:
            if fixed and not (real or query):
                continue  # nothing to fix: the same as the first mode
            if mode is GenerationMode.NEGATIVE and key in target.no_negative:
                continue
            strategy = (
                operation.as_strategy(generation_mode=mode, path_parameters=real, query=query)
                if fixed
                else operation.as_strategy(generation_mode=mode)
            )
            try:
                _run(strategy, session, target.api.url, checks, EXAMPLES[role], outcome)
            except Unsatisfiable:
                assert mode is GenerationMode.NEGATIVE, key
                target.no_negative.add(key)
            except (Exception, BaseExceptionGroup) as exc:
                # a generated body can be megabytes: its curl line is cut, the rest kept
                report = f"{key} ({name}) as {role or 'anonymous'}:\n{exc}"
                outcome.failures.append(report if len(report) < 4000 else report[:4000] + " …")
    session.close()
    return outcome


def _run(
    strategy: st.SearchStrategy[AnyCase],
    session: requests.Session,
    url: str,
    checks: list[Check],
    examples: int,
    outcome: Outcome,
) -> None:
    @settings(
        max_examples=examples,
        derandomize=True,
        database=None,  # nothing kept between runs: the same requests every time
        deadline=None,  # the server's latency is not what is tested here
        phases=[Phase.explicit, Phase.generate, Phase.shrink],
        suppress_health_check=[
            HealthCheck.too_slow,  # each example is an HTTP round trip
            HealthCheck.filter_too_much,  # invalid requests are found by filtering
            HealthCheck.data_too_large,
        ],
    )
    @given(case=strategy)
    def one(case: AnyCase) -> None:
        outcome.requests += 1
        case.call_and_validate(base_url=url, session=session, checks=checks, timeout=30)

    one()


async def digests(conn: asyncpg.Connection, tables: tuple[str, ...] | None) -> dict[str, str]:
    """Each table's rows as one digest (every table when `tables` is None)."""
    if tables is None:
        rows = await conn.fetch(
            "SELECT table_name FROM information_schema.tables "
            "WHERE table_schema = 'public' AND table_type = 'BASE TABLE' ORDER BY 1"
        )
        tables = tuple(r["table_name"] for r in rows)
    return {
        table: await conn.fetchval(
            f"SELECT md5(coalesce(string_agg(t::text, ',' ORDER BY t::text), '')) FROM {table} t"
        )
        for table in tables
    }


@pytest.mark.parametrize(
    "role", [None, Role.VIEWER, Role.OPERATOR, Role.ADMIN], ids=lambda r: r or "anonymous"
)
async def test_fuzzed_requests_get_declared_answers_and_change_nothing_they_may_not(
    target: Target, role: Role | None
) -> None:
    conn = target.stack.conn
    watched = ADMIN_ONLY if role is Role.OPERATOR else None
    before = await digests(conn, watched)
    last_audit = await conn.fetchval("SELECT coalesce(max(id), 0) FROM audit_log")
    began = time.perf_counter()
    outcome = await asyncio.to_thread(fuzz, target, role)
    print(
        f"\n{role or 'anonymous'}: {outcome.requests} requests "
        f"({EXAMPLES[role]} per operation and mode) in {time.perf_counter() - began:.1f} s"
    )
    assert not outcome.failures, "\n\n".join(outcome.failures)
    log = target.api.log.read_text()
    assert "unexpected error" not in log, log[-3000:]
    if role is Role.ADMIN:
        return  # an admin may change anything the API changes
    after = await digests(conn, watched)
    changed = [t for t in before if before[t] != after[t] and t != "audit_log"]
    assert not changed, f"{role or 'anonymous'} changed {changed}"
    traces = await conn.fetch("SELECT actor, status FROM audit_log WHERE id > $1", last_audit)
    if role is None:
        assert not traces  # no one to name: a call without credentials is a 401, not audited
    elif role is Role.VIEWER:
        # a viewer's only trace: what it was refused
        assert {(r["actor"], r["status"]) for r in traces} <= {(role.value, 403)}, traces
    assert outcome.requests > 0
