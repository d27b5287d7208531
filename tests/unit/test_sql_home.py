"""Every SQL statement lives in `telebill/db/` (issue 33: one home per table): one store per
aggregate, the month's read model, the cluster's administration. This test reads every module of
the code outside `telebill/db/` with `ast` and fails, naming file:line, on a string constant (or
an f-string's text) that holds a SQL statement, or on a call of asyncpg's COPY methods.

Docstrings are prose (they may say "COPY" or quote a statement to explain it) and are skipped.
The detector itself is tested on planted code, so a test that passes because it looks at nothing
would fail here.
"""

from __future__ import annotations

import ast
import re
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FOLDERS = ("telebill", "activities", "workflows", "workers", "starters")
HOME = ROOT / "telebill" / "db"

# Keywords in capitals, as the project writes SQL; prose in lower case ("select a template",
# "update the member") is not a statement. Each branch is the start of a statement with what
# must follow it, so an English sentence with one capitalised word does not match.
SQL = re.compile(
    r"""(?sx)
    \b(?:
        SELECT\b.{0,2000}?\bFROM\b
      | INSERT\s+INTO\b
      | UPDATE\s+[\w."]+\s+(?:AS\s+)?(?:\w+\s+)?SET\b
      | DELETE\s+FROM\b
      | COPY\s+[\w."]+\s*(?:\([^)]*\)\s*)?(?:FROM|TO)\b
      | (?:CREATE|ALTER|DROP)\s+(?:TEMP\s+|TEMPORARY\s+|UNIQUE\s+|MATERIALIZED\s+)?
        (?:TABLE|ROLE|DATABASE|INDEX|USER|SCHEMA|VIEW|SEQUENCE|FUNCTION|TRIGGER)\b
      | WITH\s+(?:RECURSIVE\s+)?\w+\s+AS\s*(?:NOT\s+)?(?:MATERIALIZED\s+)?\(
      | GRANT\s+\w.{0,200}?\bTO\b
    )
    # a string that starts as a statement does (SELECT 1, SELECT pg_advisory_lock($1), ANALYZE t)
    | ^\s*(?:SELECT|INSERT|UPDATE|DELETE|WITH|COPY|CREATE|ALTER|DROP|GRANT|REVOKE|TRUNCATE
           |LOCK|VACUUM|ANALYZE|LISTEN|NOTIFY|REFRESH)\s+[\w(*$'"]
    """
)
# asyncpg's COPY, which takes a table's name rather than a statement
COPY_METHODS = frozenset(
    {"copy_to_table", "copy_records_to_table", "copy_from_table", "copy_from_query"}
)
HOLE = " x "  # what an f-string's {expression} reads as: a name, as a table's would be


def _docstrings(tree: ast.AST) -> set[int]:
    found = set()
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
            and node.body
        ):
            first = node.body[0]
            if (
                isinstance(first, ast.Expr)
                and isinstance(first.value, ast.Constant)
                and isinstance(first.value.value, str)
            ):
                found.add(id(first.value))
    return found


def _texts(tree: ast.AST) -> Iterator[tuple[int, str]]:
    """(line, text) of each string constant and f-string, docstrings left out; an f-string is
    read whole, its expressions as HOLE, so a statement built with one is still seen."""
    skip = _docstrings(tree)
    for node in ast.walk(tree):
        if isinstance(node, ast.JoinedStr):
            for part in node.values:
                skip.add(id(part))
            text = "".join(
                p.value if isinstance(p, ast.Constant) and isinstance(p.value, str) else HOLE
                for p in node.values
            )
            yield node.lineno, text
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in skip:
            yield node.lineno, node.value


def sql_in(source: str, name: str = "<code>") -> list[str]:
    """Where `source` holds SQL: `name:line: the statement's start`, in line order."""
    tree = ast.parse(source, filename=name)
    found = []
    for line, text in _texts(tree):
        match = SQL.search(text)
        if match:
            found.append((line, f"{name}:{line}: {' '.join(match.group(0).split())[:60]}"))
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr in COPY_METHODS
        ):
            found.append((node.lineno, f"{name}:{node.lineno}: {node.func.attr}(…)"))
    return [where for _, where in sorted(found)]


def modules() -> list[Path]:
    return sorted(
        path
        for folder in FOLDERS
        for path in (ROOT / folder).rglob("*.py")
        if HOME not in path.parents
    )


def test_no_sql_outside_telebill_db() -> None:
    checked = modules()
    assert len(checked) > 100  # the folders were found (a wrong ROOT would check nothing)
    found = [
        where
        for path in checked
        for where in sql_in(path.read_text(encoding="utf-8"), str(path.relative_to(ROOT)))
    ]
    assert not found, "SQL outside telebill/db/ (move it into its table's store):\n" + "\n".join(
        found
    )


PLANTED = [
    'rows = await conn.fetch("SELECT id, name FROM member WHERE id = $1", 1)',
    'await conn.execute("INSERT INTO notification (bill_id) VALUES ($1)", 1)',
    "await conn.execute(\"UPDATE notification n SET status = 'X' WHERE n.id = 1\")",
    'await conn.execute("DELETE FROM deferred_event WHERE bill_id = $1", 1)',
    'await conn.execute("COPY member (id, name) FROM STDIN")',
    'await conn.execute(f"CREATE ROLE \\"{name}\\" LOGIN")',
    'await conn.execute(f"ALTER DATABASE \\"{db}\\" OWNER TO \\"{owner}\\"")',
    'await conn.execute("DROP TABLE smoke_echo")',
    'await conn.execute("CREATE TEMP TABLE t (x text) ON COMMIT DROP")',
    'await conn.fetch("""\n    WITH month AS (\n        SELECT 1\n    )\n    TABLE month\n""")',
    "await conn.execute(f\"SELECT setval('{table}', 1)\")",
    'await conn.execute("SELECT pg_advisory_lock($1)", 7)',
    'await conn.fetchval("SELECT 1")',
    'await conn.execute("ANALYZE member, subscription")',
    'await conn.execute("GRANT pg_signal_backend TO owner")',
    'q = ("SELECT a, b "\n     "FROM bill")',
    'q = f"SELECT {columns} FROM {table} WHERE id = $1"',
    'await conn.copy_to_table("member", source=data, columns=cols)',
    'await conn.copy_records_to_table("bill", records=rows)',
]


@pytest.mark.parametrize("code", PLANTED)
def test_the_detector_finds_planted_sql(code: str) -> None:
    source = "async def f(conn, name, db, owner, table, columns, data, cols, rows):\n"
    source += textwrap.indent(code, "    ") + "\n"
    found = sql_in(source, "planted.py")
    assert found, f"not found: {code}"
    assert found[0].startswith("planted.py:2: ")


PROSE = [
    '"""Loads the population with COPY, one transaction per chunk: SELECT … FROM member."""',
    'log.info("update the member set of preferences")',
    'raise ValueError("select a template from the list")',
    'help_text = "delete from the console, then insert into the list"',
    'label = "Select the month"',
    'jinja = "{% with x as y %}"',
    'note = "the UPDATE is skipped"',
]


@pytest.mark.parametrize("code", PROSE)
def test_the_detector_leaves_prose_alone(code: str) -> None:
    assert sql_in(f"def f(log):\n    {code}\n") == []


def test_the_detector_names_file_and_line() -> None:
    source = 'X = 1\n\n\nQUERY = "DELETE FROM bill WHERE id = $1"\n'
    assert sql_in(source, "telebill/x.py") == ["telebill/x.py:4: DELETE FROM"]
