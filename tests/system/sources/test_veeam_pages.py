"""Every bundled Veeam set matches its help-center page: names and counts of actions, parts, trust.

The pages are read here with regular expressions, not with ``verification.requirements.pages``
(the importer's JSON reader), so the generator and this check do not share a mistake. A slip in a
YAML file (an action dropped, renamed or moved to another part, a trusted service missing, a
condition lost) fails here.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pytest

from verification.requirements import (
    ACTION_RE,
    REQUIREMENTS_DIR,
    RequirementSet,
    available_sets,
    available_versions,
    load_requirement_set,
)

#: Action names as the pages quote them: followed by a closing quote (or, once, only by a comma)
#: and then a comma or a closing bracket; a condition key (followed by ``":``) is not one.
ACTION_TOKEN = re.compile(r'"([a-z0-9-]+:[A-Za-z0-9]+)"?(?=\s*[,\]])')
CONDITION_PAIR = re.compile(r'"([a-z0-9-]+:[A-Za-z0-9/]+)":\s*"([^"]*)"')
SERVICE = re.compile(r'"Service":\s*(\[[^\]]*\]|"[^"]*")')
ROLE_PAGES = ("role_permissions_*.md", "organization_permissions.md", "byb_roles.md", "full_list_permissions.md")
#: Pages that only link to others (no policy of their own).
INDEX_PAGES = {"role_permissions_backup.md", "role_permissions_restore.md", "role_permissions_service.md"}
HARNESS_SETS = {"verifier"}


@dataclass
class Block:
    """One embedded policy as this test reads it."""

    text: str
    trust: bool
    statements: list[tuple[list[str], dict[str, str]]]
    valid_json: bool

    @property
    def actions(self) -> list[str]:
        return [a for actions, _ in self.statements for a in actions]


@dataclass
class PageFacts:
    name: str
    url: str
    build: str
    updated: str
    footer_updated: str
    blocks: list[Block]
    flat: str

    @property
    def permissions(self) -> list[Block]:
        return [b for b in self.blocks if not b.trust]

    @property
    def services(self) -> set[str]:
        found: set[str] = set()
        for block in self.blocks:
            for value in SERVICE.findall(block.text):
                found.update(re.findall(r'"([^"]+)"', value))
        return found


def _iso(month_day_year: str) -> str:
    month, day, year = (int(x) for x in month_day_year.split("/"))
    return date(year, month, day).isoformat()


def read(path: Path) -> PageFacts:
    text = path.read_text(encoding="utf-8")
    front = dict(re.findall(r'^(\w+): "([^"]*)"$', text.split("\n---\n", 1)[0], re.MULTILINE))
    footer = re.search(r"^Page updated (\d+/\d+/\d+)$", text, re.MULTILINE)
    blocks = []
    for line in text.splitlines():
        if not line.startswith("| {"):
            continue
        body = line.replace("\xa0", " ").replace("\\*", "*").strip(" |")
        try:
            json.loads(body)
            valid = True
        except ValueError:
            valid = False
        statements = []
        # Statements are separated by "}, {" (a condition's braces never are followed by ", {").
        for chunk in re.split(r"\}\s*,\s*\{", body.split('"Statement"', 1)[1]):
            condition = dict(CONDITION_PAIR.findall(chunk.split('"Condition"', 1)[1])) if '"Condition"' in chunk else {}
            statements.append((ACTION_TOKEN.findall(chunk), condition))
        blocks.append(Block(body, '"Principal"' in body, statements, valid))
    return PageFacts(
        name=path.name,
        url=front["source_url"],
        build=front["product_version"],
        updated=_iso(front["last_updated"]),
        footer_updated=_iso(footer[1]) if footer else "",
        blocks=blocks,
        flat=" ".join(text.split()),
    )


def bundled_veeam_sets() -> list[RequirementSet]:
    return [load_requirement_set(name) for name in available_sets() if name not in HARNESS_SETS]


def role_pages(pages_dir: Path) -> list[Path]:
    return sorted({p for pattern in ROLE_PAGES for p in pages_dir.glob(pattern)})


def page_of(requirements: RequirementSet, pages_dir: Path) -> Path:
    return pages_dir / (requirements.source_url.rsplit("/", 1)[-1].split("#")[0].removesuffix(".html") + ".md")


def part_actions(requirements: RequirementSet, part: str | None) -> list[str]:
    return [r.action for r in requirements.by_kind("permission") if r.action and (part is None or part in r.parts)]


def test_every_role_page_has_a_set_and_every_set_a_page(pages_dir: Path) -> None:
    """No page is left out, and no set cites a page that is not there."""
    cited = {page_of(s, pages_dir).name for s in bundled_veeam_sets()}
    pages = {p.name for p in role_pages(pages_dir)}
    assert len(pages) == 28
    assert pages - cited == INDEX_PAGES
    assert cited <= pages, f"sets cite pages that are not in {pages_dir}: {sorted(cited - pages)}"


@pytest.mark.parametrize("name", sorted(INDEX_PAGES))
def test_index_pages_hold_no_policy_and_link_only_to_pages_with_a_set(name: str, pages_dir: Path) -> None:
    page = read(pages_dir / name)
    assert page.blocks == []
    links = re.findall(r"\]\((role_permissions_\w+)\.md", (pages_dir / name).read_text())
    cited = {page_of(s, pages_dir).stem for s in bundled_veeam_sets()}
    assert links and set(links) <= cited


def _set_names() -> list[str]:
    return [name for name in available_sets() if name not in HARNESS_SETS]


@pytest.mark.parametrize("name", _set_names())
def test_set_matches_its_page(name: str, pages_dir: Path) -> None:
    """Source, build, date, parts, every action per part (names and counts), conditions, trust, profile."""
    requirements = load_requirement_set(name)
    page = read(page_of(requirements, pages_dir))
    assert requirements.source_url == page.url
    assert requirements.product_build == page.build == "10.0.0.232"
    assert requirements.page_updated == page.updated == page.footer_updated
    assert requirements.version == f"{page.build} (page updated {page.updated})"

    byb = page.name == "byb_roles.md"
    blocks = page.permissions
    if name == "veeam-added-role":
        blocks = []  # byb_roles: the trust every added role needs; the Impersonation role has the policy
    parts = [part for part, _ in requirements.parts]
    if parts:
        assert len(parts) == len(blocks), f"{len(blocks)} policies on {page.name}, {len(parts)} parts"
    else:
        assert len(blocks) <= 1
    for index, block in enumerate(blocks):
        part = parts[index] if parts else None
        ours = part_actions(requirements, part)
        assert Counter(ours) == Counter(block.actions), f"part {part}: {page.name} policy #{index + 1} differs"
        assert len(ours) == len(block.actions)
        conditional = {a: cond for actions, cond in block.statements for a in actions if cond}
        scoped = {
            r.action: {k: "|".join(v) for k, v in r.context}
            for r in requirements.by_kind("permission")
            if r.context and (part is None or part in r.parts)
        }
        assert scoped == conditional
    if not blocks:
        assert not requirements.by_kind("permission")

    trusted = {r.principal[0][1] for r in requirements.by_kind("trust") if isinstance(r.principal, tuple)}
    appliance = any(r.principal == "appliance" for r in requirements.by_kind("trust"))
    if byb:
        assert trusted == set()
        # The Impersonation role itself: no trust on the page; every added role: the appliance.
        assert appliance == (name == "veeam-added-role")
        assert '"AWS": "<Role ARN>"' in page.flat and "sts:AssumeRole" in part_actions(
            load_requirement_set("veeam-impersonation"), None
        )
    else:
        assert trusted == page.services
        assert appliance == ("backup appliance must be granted permissions to assume" in page.flat)
    profile = "must be included at least in one instance profile" in page.flat
    assert bool(requirements.by_kind("instance-profile")) == profile

    malformed = [i + 1 for i, b in enumerate(page.blocks) if not b.valid_json and not b.trust]
    if malformed and blocks:
        assert requirements.anomalies, f"{page.name} has malformed JSON in policy {malformed}: record it"
        for number in malformed:
            assert any(f"policy #{number}" in anomaly for anomaly in requirements.anomalies)
    else:
        assert not requirements.anomalies


def test_the_dynamodb_page_is_malformed_and_still_read(pages_dir: Path) -> None:
    """The page the issue names: its broken policy is read whole, and the set says what was wrong."""
    page = read(pages_dir / "role_permissions_backup_dynamo.md")
    assert [b.valid_json for b in page.blocks] == [True, False, True]
    requirements = load_requirement_set("veeam-dynamodb-backup:policy")
    assert "ec2:DescribeAvailabilityZones" in requirements.actions
    assert len(set(requirements.actions)) == len(page.blocks[1].actions) == 49
    assert "ec2:DescribeAvailabilityZones lacks its closing quote" in requirements.anomalies[0]


def test_the_largest_set_is_the_full_list_of_450_actions(pages_dir: Path) -> None:
    sizes = {s.name: len(set(s.actions)) for s in bundled_veeam_sets()}
    assert max(sizes, key=lambda k: sizes[k]) == "veeam-default-backup-restore"
    page = read(pages_dir / "full_list_permissions.md")
    assert sizes["veeam-default-backup-restore"] == sum(len(b.actions) for b in page.permissions) == 450


def test_flr_set_is_unchanged() -> None:
    """The hand-written FLR set keeps its ids: history, evidence and test ids depend on them."""
    flr = load_requirement_set("veeam-flr-worker-prod")
    ids = [r.id for r in flr.requirements]
    assert ids[:3] == ["instance-profile", "trust:appliance", "trust:ec2.amazonaws.com"]
    assert len(ids) == 85 and len(flr.actions) == 82
    assert all(i == f"permission:{a}" for i, a in zip(ids[3:], flr.actions, strict=True))
    assert flr.parts == () and flr.id == "veeam-vbaws-flr-worker-prod"


def test_every_action_is_a_plausible_service_action() -> None:
    for name in available_sets() + available_versions():
        for action in load_requirement_set(name).actions:
            assert ACTION_RE.match(action), f"{name}: {action}"


@pytest.mark.parametrize("version", ["4.0", "5a", "6a"])
def test_repository_versions_match_the_archive(version: str, archive_dir: Path) -> None:
    """Each bundled earlier version holds exactly its archived list, per part, with its resources."""
    data = json.loads((archive_dir / "role_permissions_repo.json").read_text())
    [entry] = [v for v in data["versions"] if v["version"].split()[0] == version]
    requirements = load_requirement_set(f"veeam-repository@{version}")
    assert requirements.source_url == entry["url"] and requirements.product_build == version
    assert Counter(requirements.actions) == Counter(entry["actions"])
    assert len(requirements.parts) == len(entry["actions_by_part"])
    for (part, _), (label, actions) in zip(requirements.parts, entry["actions_by_part"].items(), strict=True):
        assert part == label.split(" ")[0].replace("_", "-")
        assert sorted(part_actions(requirements, part)) == sorted(actions)
        resource = re.search(r"\((.*)\)$", label)
        for r in requirements.by_kind("permission"):
            if part in r.parts:
                assert r.resource == (resource[1] if resource else "*")


def test_generator_writes_exactly_the_bundled_files(pages_dir: Path, archive_dir: Path, tmp_path: Path) -> None:
    """The bundled files are the importer's output for these pages: no hand edit has crept in."""
    from verification.requirements.importer import import_all

    written = import_all(ROOT_TOOLS / "veeam-pages.yaml", pages_dir, archive_dir, tmp_path)
    assert len(written) == 28
    for path in written:
        bundled = REQUIREMENTS_DIR / path.relative_to(tmp_path)
        assert bundled.read_text() == path.read_text(), f"{bundled} differs from the importer's output"


ROOT_TOOLS = Path(__file__).resolve().parents[3] / "tools"
