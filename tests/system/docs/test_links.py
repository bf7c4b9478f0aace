"""Every relative link in the README and in docs/ leads somewhere: a file that exists, and a heading in it.

GitHub renders these pages; a link to a moved page or a renamed heading is a dead end a reader
meets, so it fails here. Anchors are compared with GitHub's slugs of the target's headings.
"""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import unquote

import pytest

ROOT = Path(__file__).resolve().parents[3]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
LINK = re.compile(r"(?<!!)\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
FENCE = re.compile(r"^\s*```")


def prose(text: str) -> str:
    """The text without fenced code blocks and inline code spans, where a ``](`` is not a link."""
    kept, in_block = [], False
    for line in text.splitlines():
        if FENCE.match(line):
            in_block = not in_block
            continue
        if not in_block:
            kept.append(re.sub(r"`[^`]*`", "", line))
    return "\n".join(kept)


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces as hyphens."""
    text = re.sub(r"`|\*", "", heading.strip().lower())
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", text)
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(page: Path) -> set[str]:
    """The anchors of a page's headings, numbered as GitHub numbers repeats (-1, -2, ...)."""
    seen: dict[str, int] = {}
    found = set()
    in_block = False
    for line in page.read_text(encoding="utf-8").splitlines():
        if FENCE.match(line):
            in_block = not in_block
            continue
        if in_block or not (match := re.match(r"^#{1,6}\s+(.*?)\s*#*\s*$", line)):
            continue
        base = slug(match[1])
        count = seen.get(base, 0)
        found.add(base if count == 0 else f"{base}-{count}")
        seen[base] = count + 1
    return found


def links(page: Path) -> list[str]:
    """The page's relative links (not http(s), mailto or other schemes)."""
    return [
        target
        for target in LINK.findall(prose(page.read_text(encoding="utf-8")))
        if not re.match(r"^[a-z][a-z0-9+.-]*:", target)
    ]


@pytest.mark.parametrize("page", PAGES, ids=[str(page.relative_to(ROOT)) for page in PAGES])
def test_every_relative_link_resolves(page: Path) -> None:
    dead = []
    for target in links(page):
        path_part, _, anchor = target.partition("#")
        destination = (page.parent / unquote(path_part)).resolve() if path_part else page
        if not destination.is_relative_to(ROOT):
            dead.append(f"{target}: outside the repository")
        elif not destination.exists():
            dead.append(f"{target}: no such file")
        elif anchor and destination.suffix == ".md" and anchor not in anchors(destination):
            dead.append(f"{target}: no heading with that anchor in {destination.relative_to(ROOT)}")
    assert not dead, f"{page.relative_to(ROOT)}: " + "; ".join(dead)


def test_the_link_reader_sees_links_and_anchors() -> None:
    """The checks above look where links are: a dead one in prose is found, one in code is not a link."""
    sample = "see [a](docs/x.md#y-z) and `[b](nowhere.md)`\n```text\n[c](nowhere.md)\n```\n"
    assert LINK.findall(prose(sample)) == ["docs/x.md#y-z"]
    assert slug("Regions, request context and resources") == "regions-request-context-and-resources"
    assert slug("The verifier's policy") == "the-verifiers-policy"
    assert slug("SARIF: `--sarif FILE`") == "sarif---sarif-file"
    assert "the-local-iam-endpoint" in anchors(ROOT / "docs" / "local-endpoint.md")
