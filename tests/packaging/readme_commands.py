"""The shell commands the README shows, read from its ``sh`` code blocks, so tests and CI run what it says.

``python3 tests/packaging/readme_commands.py quickstart`` prints the quickstart's commands, one a
line (``.ci/run`` runs them); ``all`` prints every command with its section. Standard library
only: ``.ci/run`` calls it with the system's python3, before any install.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass
from pathlib import Path

README = Path(__file__).resolve().parents[2] / "README.md"
FENCE = re.compile(r"^```(\w*)\s*$")


@dataclass(frozen=True)
class Command:
    """One logical command line (continuations joined, comments dropped) and the section it is in."""

    section: str
    line: str


def commands(text: str | None = None) -> list[Command]:
    """Every command of every ``sh`` block, in order."""
    lines = (README.read_text(encoding="utf-8") if text is None else text).splitlines()
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
        found.append(Command(section, (pending + line).strip()))
        pending = ""
    return found


def quickstart(text: str | None = None) -> list[str]:
    """The quickstart's commands, in order."""
    return [command.line for command in commands(text) if command.section == "Quickstart"]


def main(argv: list[str]) -> int:
    if argv == ["quickstart"]:
        print("\n".join(quickstart()))
        return 0
    if argv == ["all"]:
        print("\n".join(f"{command.section}: {command.line}" for command in commands()))
        return 0
    print("usage: readme_commands.py quickstart|all", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
