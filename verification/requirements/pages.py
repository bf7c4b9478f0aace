"""Read a Veeam help-center page (the Markdown transcription) into what a requirement set needs.

The pages embed IAM policies as one-line tables (``| { ... } |``) with non-breaking spaces and an
escaped ``\\*``. A policy that is not valid JSON (one page lacks a closing quote) is still read: the
one repair this module knows (closing an action name's quote) is applied and the fault is kept as
an anomaly, so the set records it instead of hiding it.

This module is the generator's reader. ``tests/system/sources`` reads the pages again with its own,
deliberately different code, so a slip here or in a YAML file cannot check itself.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from verification.errors import InputError

#: An action name whose closing quote is missing: ``"ec2:DescribeAvailabilityZones,``.
_UNCLOSED_ACTION = re.compile(r'"([a-z0-9-]+:[A-Za-z0-9]+),(?=\s)')
_FRONT = re.compile(r"^---\n(?P<front>.*?)\n---\n(?P<body>.*)$", re.DOTALL)


@dataclass(frozen=True)
class Statement:
    """One Allow statement of a page's permissions policy."""

    actions: tuple[str, ...]
    resource: str
    context: dict[str, str]


@dataclass(frozen=True)
class PolicyBlock:
    """One embedded policy, in page order: a trust statement or a permissions policy."""

    number: int
    statements: tuple[Statement, ...]
    principals: tuple[tuple[str, str], ...]
    anomaly: str | None

    @property
    def is_trust(self) -> bool:
        """Does the block show a trust statement (one with a Principal)?"""
        return bool(self.principals)


@dataclass(frozen=True)
class Page:
    """What a help-center page says about a role."""

    path: Path
    url: str
    build: str
    page_updated: str
    title: str
    blocks: tuple[PolicyBlock, ...]
    appliance_trust: bool
    instance_profile: bool
    text: str = field(repr=False)

    @property
    def permission_blocks(self) -> tuple[PolicyBlock, ...]:
        """The permissions policies, in page order."""
        return tuple(b for b in self.blocks if not b.is_trust)

    @property
    def service_principals(self) -> tuple[str, ...]:
        """The services the page's trust statements let assume the role, in page order."""
        return tuple(
            dict.fromkeys(name for b in self.blocks for kind, name in b.principals if kind == "Service").keys()
        )


def read_page(path: Path) -> Page:
    """Parse one page; InputError with one line when it is not a help-center page."""
    text = path.read_text(encoding="utf-8")
    match = _FRONT.match(text)
    if match is None:
        raise InputError(f"{path}: no front matter (--- source_url, last_updated, product_version ---)")
    front: dict[str, str] = {}
    for line in match["front"].splitlines():
        key, _, value = line.partition(":")
        front[key.strip()] = value.strip().strip('"')
    for key in ("source_url", "last_updated", "product_version"):
        if not front.get(key):
            raise InputError(f"{path}: front matter has no {key}")
    body = match["body"]
    blocks: list[PolicyBlock] = []
    for line in body.splitlines():
        if line.startswith("| {"):
            blocks.append(_block(len(blocks) + 1, line, path))
    flat = " ".join(body.split())
    return Page(
        path=path,
        url=front["source_url"],
        build=front["product_version"],
        page_updated=datetime.strptime(front["last_updated"], "%m/%d/%Y").date().isoformat(),
        title=front.get("title", path.stem),
        blocks=tuple(blocks),
        appliance_trust="backup appliance must be granted permissions to assume" in flat,
        instance_profile="must be included at least in one instance profile" in flat,
        text=body,
    )


def _block(number: int, line: str, path: Path) -> PolicyBlock:
    raw = line.strip().strip("|").replace("\xa0", " ").replace("\\*", "*").strip()
    anomaly = None
    try:
        document = json.loads(raw)
    except json.JSONDecodeError as error:
        repaired, count = _UNCLOSED_ACTION.subn(r'"\1",', raw)
        try:
            document = json.loads(repaired) if count else None
        except json.JSONDecodeError:
            document = None
        if document is None:
            raise InputError(
                f"{path}: policy #{number} is not valid JSON ({error.msg}) and cannot be repaired"
            ) from None
        names = ", ".join(_UNCLOSED_ACTION.findall(raw))
        anomaly = (
            f"policy #{number} on the page is not valid JSON ({error.msg} at character {error.pos}): "
            f"the action {names} lacks its closing quote; read as {names}"
        )
    statements = document.get("Statement") if isinstance(document, dict) else None
    if not isinstance(statements, list):
        raise InputError(f"{path}: policy #{number} has no Statement list")
    parsed: list[Statement] = []
    principals: list[tuple[str, str]] = []
    for statement in statements:
        if statement.get("Effect") != "Allow":
            raise InputError(f"{path}: policy #{number} has a statement that is not an Allow")
        principal = statement.get("Principal")
        actions = _strings(statement.get("Action"))
        if principal is not None:
            for kind, names in principal.items():
                principals.extend((kind, name) for name in _strings(names))
            continue
        resource = _strings(statement.get("Resource"))
        if len(resource) != 1:
            raise InputError(f"{path}: policy #{number} has a statement with {len(resource)} resources")
        context = _condition(statement.get("Condition"), path, number)
        parsed.append(Statement(tuple(actions), resource[0], context))
    return PolicyBlock(number, tuple(parsed), tuple(principals), anomaly)


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return list(value)
    return []


def _condition(value: Any, path: Path, number: int) -> dict[str, str]:
    """A StringEquals condition as the context that meets it; any other operator is refused."""
    if not value:
        return {}
    if set(value) != {"StringEquals"}:
        raise InputError(f"{path}: policy #{number} has condition operators {sorted(value)}; only StringEquals is read")
    return {str(k): str(v) for k, v in value["StringEquals"].items()}
