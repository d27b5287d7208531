"""The README and docs/ guide: every relative link and image resolves (to a file, and for a
`#anchor` to a heading of that file by GitHub's rules), the README stays short and starts with
the two commands."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import unquote

import pytest

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
DOCS = sorted((ROOT / "docs").glob("*.md"))
PAGES = [README, *DOCS]
MAX_README_LINES = 260

FENCE = re.compile(r"^\s*(```|~~~)")
INLINE_CODE = re.compile(r"(`+)(?:(?!\1).)+?\1")
# [text](target "title") and ![alt](target): the target up to a space or the closing bracket
LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
HTML_REF = re.compile(r"<(?:img|a)\b[^>]*\b(?:src|href)=\"([^\"]+)\"", re.IGNORECASE)
HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")


def prose_lines(text: str) -> list[str]:
    """The lines outside fenced code blocks."""
    lines, fenced = [], False
    for line in text.splitlines():
        if FENCE.match(line):
            fenced = not fenced
            continue
        if not fenced:
            lines.append(line)
    return lines


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: its text lowercased, punctuation dropped (letters of any
    script, digits, `_`, `-` and spaces kept), spaces to hyphens."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link's text only
    text = text.replace("`", "").strip().lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(page: Path) -> set[str]:
    seen: dict[str, int] = {}
    found = set()
    for line in prose_lines(page.read_text(encoding="utf-8")):
        match = HEADING.match(line)
        if not match:
            continue
        base = slug(match.group(2))
        n = seen.get(base, 0)
        seen[base] = n + 1
        found.add(base if n == 0 else f"{base}-{n}")
    return found


def links(page: Path) -> list[str]:
    targets = []
    for line in prose_lines(page.read_text(encoding="utf-8")):
        line = INLINE_CODE.sub("", line)
        targets += LINK.findall(line) + HTML_REF.findall(line)
    return targets


def is_external(target: str) -> bool:
    return bool(re.match(r"^[a-z][a-z0-9+.-]*:", target, re.IGNORECASE)) or target.startswith("//")


def test_the_pages_exist() -> None:
    names = {p.name for p in DOCS}
    for name in ("architecture.md", "operations.md", "security.md", "upgrades.md"):
        assert name in names
    for name in ("benchmarks.md", "testing.md", "decisions.md"):
        assert name in names


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_resolves(page: Path) -> None:
    broken = []
    for target in links(page):
        if is_external(target):
            continue
        path_part, _, anchor = target.partition("#")
        file = (page.parent / unquote(path_part)).resolve() if path_part else page
        if not file.exists():
            broken.append(f"{target}: no file {file}")
            continue
        if anchor:
            if file.suffix != ".md":
                broken.append(f"{target}: an anchor into a file that is not Markdown")
            elif unquote(anchor) not in anchors(file):
                broken.append(f"{target}: no heading #{unquote(anchor)} in {file.name}")
    assert not broken, "\n".join(broken)


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_the_page_links_somewhere(page: Path) -> None:
    """A page of the guide is reached from the README, and the README links into docs/."""
    if page == README:
        assert any(t.startswith("docs/") for t in links(README))
    else:
        reached = {t.partition("#")[0] for t in links(README)}
        assert f"docs/{page.name}" in reached, f"README does not link to docs/{page.name}"


def test_readme_is_short() -> None:
    lines = README.read_text(encoding="utf-8").splitlines()
    assert len(lines) <= MAX_README_LINES, f"README.md has {len(lines)} lines"


def test_readme_starts_with_the_two_commands() -> None:
    lines = [x for x in README.read_text(encoding="utf-8").splitlines() if x.strip()]
    assert lines[0].startswith("# ")
    assert lines[1] == "```bash"
    assert lines[2].startswith("make demo ")
    assert lines[3].startswith("make test ")


def test_slug_follows_github() -> None:
    assert slug("The `telebill` command") == "the-telebill-command"
    assert slug("The admin API and console (관리자 API · 콘솔)") == (
        "the-admin-api-and-console-관리자-api--콘솔"
    )
    assert slug("Templates (이메일/SMS 템플릿)") == "templates-이메일sms-템플릿"
