"""The shell commands the README and the docs pages show, read from their ``sh`` code blocks, so tests and CI run them.

The README is the front door; the commands it once held for offline runs, templates, the local
endpoint and development now live in the pages of ``PAGES``, and are read from there alike.
``python3 tests/system/packaging/readme_commands.py quickstart`` prints the README quickstart's commands,
one a line (``.ci/run`` runs them); ``all`` prints every command with its page and section.
Standard library only: ``.ci/run`` calls it with the system's python3, before any install.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
README = ROOT / "README.md"
#: The docs pages whose ``sh`` commands are run too (paths from the checkout's root), after the README's.
PAGES = ("docs/offline.md", "docs/templates.md", "docs/local-endpoint.md", "docs/development.md")
FENCE = re.compile(r"^```(\w*)\s*$")


@dataclass(frozen=True)
class Command:
    """One logical command line (continuations joined, comments dropped), its section and its page."""

    section: str
    line: str
    page: str = "README.md"


def commands(text: str | None = None) -> list[Command]:
    """Every command of every ``sh`` block of the README, then of each page of PAGES, in order.

    Given ``text``, the commands of that one Markdown text (as the README's).
    """
    if text is not None:
        return _commands(text, "README.md")
    found = _commands(README.read_text(encoding="utf-8"), "README.md")
    for page in PAGES:
        found += _commands((ROOT / page).read_text(encoding="utf-8"), page)
    return found


def _commands(text: str, page: str) -> list[Command]:
    """Every command of every ``sh`` block of one page, in order."""
    lines = text.splitlines()
    found: list[Command] = []
    section = ""
    in_block = False
    block_lang = ""
    pending = ""
    for raw in lines:
        fence = FENCE.match(raw)
        if fence:
            in_block, block_lang, pending = (not in_block), fence[1], ""
            continue
        if not in_block:
            if raw.startswith("#"):
                section = raw.lstrip("#").strip()
            continue
        if block_lang != "sh":
            continue
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        line = re.sub(r"\s+#\s.*$", "", line)
        if line.endswith("\\"):
            pending += line[:-1].rstrip() + " "
            continue
        found.append(Command(section, (pending + line).strip(), page))
        pending = ""
    return found


def quickstart(text: str | None = None) -> list[str]:
    """The README quickstart's commands, in order."""
    readme = commands(text) if text is not None else _commands(README.read_text(encoding="utf-8"), "README.md")
    return [command.line for command in readme if command.section == "Quickstart"]


def main(argv: list[str]) -> int:
    if argv == ["quickstart"]:
        print("\n".join(quickstart()))
        return 0
    if argv == ["all"]:
        print("\n".join(f"{command.page}: {command.section}: {command.line}" for command in commands()))
        return 0
    print("usage: readme_commands.py quickstart|all", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
