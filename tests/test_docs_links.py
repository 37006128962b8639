"""Every relative link in the docs points to a file that exists and, for `file.md#anchor`, to
an anchor that page has, as GitHub makes them: a dead link is a reader sent nowhere."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PAGES = sorted(
    [
        *ROOT.joinpath("docs").glob("*.md"),
        ROOT / "README.md",
        ROOT / "CONTRIBUTING.md",
        *ROOT.glob("examples/*/README.md"),
    ]
)

_FENCE = re.compile(r"^(```|~~~).*?^\1", re.M | re.S)
_INLINE_CODE = re.compile(r"`[^`\n]*`")
_LINK = re.compile(r"\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
_HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")


def _prose(text: str) -> str:
    # Code blocks hold YAML and shell, never links; a `](x)` inside them is not one.
    return _FENCE.sub("", text)


def github_slug(heading: str) -> str:
    """GitHub's anchor for a heading: its text (links and code marks dropped), lower case,
    every character but letters, digits, `_`, `-` and spaces dropped, spaces made `-`."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading)
    text = text.replace("`", "").strip().lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(page: Path) -> set[str]:
    """The anchors of a page's headings. Only headings: `pipe help TOPIC` prints a page as its
    markdown, where an HTML anchor would show as a tag."""
    text = page.read_text(encoding="utf-8")
    seen: dict[str, int] = {}
    out: set[str] = set()
    for line in _prose(text).splitlines():
        m = _HEADING.match(line)
        if m:
            slug = github_slug(m.group(2))
            n = seen.get(slug, 0)
            seen[slug] = n + 1
            # A repeated heading gets -1, -2 ... as on GitHub.
            out.add(slug if n == 0 else f"{slug}-{n}")
    return out


def links(page: Path) -> list[str]:
    text = _INLINE_CODE.sub("", _prose(page.read_text(encoding="utf-8")))
    return [m.group(1) for m in _LINK.finditer(text) if not re.match(r"[a-z][a-z0-9+.-]*:", m.group(1))]


def test_slug_follows_github_rules() -> None:
    assert (
        github_slug("Matrix, sweep and foreach: one step, many tasks") == "matrix-sweep-and-foreach-one-step-many-tasks"
    )
    assert github_slug("`pipe gc [--keep-last N] [--dry-run]`") == "pipe-gc---keep-last-n---dry-run"
    assert github_slug("Running a step: staging and guarantees") == "running-a-step-staging-and-guarantees"


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_resolve(page: Path) -> None:
    broken = []
    for target in links(page):
        path, _, anchor = target.partition("#")
        dest = (page.parent / path).resolve() if path else page
        if not dest.exists():
            broken.append(f"{target}: no such file")
        elif anchor and dest.suffix == ".md" and anchor not in anchors(dest):
            broken.append(f"{target}: {dest.name} has no heading with that anchor")
    assert not broken, f"{page.relative_to(ROOT)}: " + "; ".join(broken)


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_table_rows_have_the_header_columns(page: Path) -> None:
    """A `|` in a table cell, even inside `code`, ends the cell on GitHub unless written `\\|`:
    the row then spills into a column the header does not have and reads wrong."""
    text = _FENCE.sub(lambda m: "\n" * m.group(0).count("\n"), page.read_text(encoding="utf-8"))
    columns = None
    bad = []
    for n, line in enumerate(text.splitlines(), 1):
        if not line.startswith("|"):
            columns = None
            continue
        cells = len(re.split(r"(?<!\\)\|", line.strip().removeprefix("|").removesuffix("|")))
        if columns is None:
            columns = cells
        elif cells != columns:
            bad.append(f"line {n}: {cells} cells under a header of {columns} (write a | in a cell as \\|)")
    assert not bad, f"{page.relative_to(ROOT)}: " + "; ".join(bad)
