"""The README is the front door: short, its quickstart as CI runs it, and every docs page reachable from it.

Issue #24: at most about 150 lines, holding what the harness is, the quickstart, verifying a real
role, and where to read on; the rest lives in docs/. The documented commands that moved there are
still run by tests/system/packaging/test_readme_commands.py; this checks in seconds that each has an
expectation there, so a new command cannot wait for that slow test to be noticed.
"""

from __future__ import annotations

import re
from pathlib import Path

from tests.system.packaging.readme_commands import PAGES, commands, quickstart
from tests.system.packaging.test_readme_commands import _expectation

ROOT = Path(__file__).resolve().parents[3]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def test_the_readme_is_short_and_holds_the_four_parts() -> None:
    lines = README.splitlines()
    assert len(lines) <= 150, f"README.md has {len(lines)} lines: move detail into docs/ and link it"
    sections = [line.removeprefix("## ") for line in lines if line.startswith("## ")]
    for part in ("Quickstart", "Verifying a real role", "Where to read on"):
        assert part in sections, f"README.md has no '## {part}' section: {sections}"


def test_the_quickstart_is_the_two_commands_ci_runs() -> None:
    assert quickstart() == [
        "python3 -m venv .venv && .venv/bin/pip install -q '.[demo]' && .venv/bin/pytest --demo",
        "python3 -m venv .venv && .venv/bin/pip install -q -e '.[test]' && .venv/bin/pytest tests -n 2",
    ]


def test_every_docs_page_is_linked_from_the_readme() -> None:
    linked = set(re.findall(r"\]\(docs/([\w.-]+\.md)", README))
    pages = {page.name for page in (ROOT / "docs").glob("*.md")}
    assert pages <= linked, f"docs pages the README does not lead to: {sorted(pages - linked)}"


def test_every_documented_command_has_an_expectation() -> None:
    found = commands()
    for command in found:
        _expectation(command)  # fails naming the page and the command
    pages_with_commands = {command.page for command in found}
    assert set(PAGES) <= pages_with_commands, f"pages in PAGES without a command: {set(PAGES) - pages_with_commands}"
    assert any(c.section == "The local IAM endpoint" for c in found), "the endpoint command the test starts is gone"
