"""The requirement-set schema: a loaded YAML/JSON document checked, key by key, and built into a set.

Every fault is an ``InputError`` of one line naming the file, the item (``requirement #3``) and
what is wrong. A set may declare *parts* (a page's lists per operation); each permission then names
its part, and a permission two parts ask for is one requirement in both.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from verification.errors import InputError
from verification.requirements.model import SEVERITIES, Requirement, RequirementSet, context_suffix
from verification.scope.catalogue import has_action, unknown_action_message

#: ``service:Action`` with no wildcard: SimulatePrincipalPolicy needs concrete action names.
ACTION_RE = re.compile(r"^[a-z0-9][a-z0-9-]*:[A-Za-z0-9]+$")
SERVICE_PRINCIPAL_RE = re.compile(r"^[a-z0-9][a-z0-9.-]*\.amazonaws\.com(\.cn)?$")
PART_RE = re.compile(r"^[a-z0-9][a-z0-9-]*$")
#: A condition key (``aws:RequestTag/Name``, ``ec2:ResourceTag/Name``, ``ec2:CreateAction``...).
CONTEXT_KEY_RE = re.compile(r"^[a-z0-9-]+:[A-Za-z0-9-]+(/[^\s]+)?$")

_SET_KEYS = {"id", "title", "version", "source", "epic", "feature", "requirements", "parts", "anomalies", "notes"}
_REQUIRED_SET_KEYS = {"id", "title", "version", "source", "epic", "feature", "requirements"}
_SOURCE_KEYS = {"url", "product", "product_build", "page_updated"}
_PART_KEYS = {"name", "title"}
_ITEM_KEYS = {
    "instance-profile": {"id", "kind", "story", "severity", "see_also"},
    "trust": {"id", "kind", "principal", "story", "severity", "see_also"},
    "permissions": {"kind", "story", "severity", "resource", "context", "actions", "see_also", "part"},
}

#: Makes the one-line fault for this file: ``requirement set PATH: MESSAGE``.
Fault = Callable[[str], InputError]


@dataclass(frozen=True)
class _Header:
    """What a set says about itself, checked: its parts, and its anomalies and notes."""

    parts: tuple[tuple[str, str], ...]
    anomalies: tuple[str, ...]
    notes: tuple[str, ...]


def parse_requirement_set(data: Any, *, path: Path, sha256: str, name: str = "") -> RequirementSet:
    """Check a loaded document against the schema and build the set."""

    def fault(message: str) -> InputError:
        return InputError(f"requirement set {path}: {message}")

    header = _header(data, fault)
    declared = {part for part, _ in header.parts}
    items = [
        _item(item, f"requirement #{number}", declared, fault)
        for number, item in enumerate(data["requirements"], start=1)
    ]
    merged = _merge([requirement for found in items for requirement in found], fault)
    for part in declared - {p for r in merged for p in r.parts}:
        raise fault(f"part {part!r} has no permissions")
    set_name = name or path.stem
    source = data["source"]
    return RequirementSet(
        id=data["id"],
        title=data["title"],
        version=str(data["version"]),
        source_url=str(source["url"]),
        product=str(source["product"]),
        product_build=str(source["product_build"]),
        page_updated=str(source["page_updated"]),
        epic=data["epic"],
        feature=data["feature"],
        requirements=tuple(replace(r, sets=(set_name,)) for r in merged),
        path=path,
        sha256=sha256,
        name=set_name,
        parts=header.parts,
        selected=tuple(part for part, _ in header.parts),
        anomalies=header.anomalies,
        notes=header.notes,
    )


def _header(data: Any, fault: Fault) -> _Header:
    """Check everything but the requirements' contents: the set's keys, source, names, parts and notes."""
    if not isinstance(data, Mapping):
        raise fault("the top level must be a mapping with id, title, version, source and requirements")
    _check_keys(data, _SET_KEYS, "the set", fault, required=_REQUIRED_SET_KEYS)
    source = data["source"]
    if not isinstance(source, Mapping):
        raise fault("source must be a mapping with url, product, product_build and page_updated")
    _check_keys(source, _SOURCE_KEYS, "source", fault, required=_SOURCE_KEYS)
    for key in ("id", "title", "version", "epic", "feature"):
        if not isinstance(data[key], str) or not data[key].strip():
            raise fault(f"{key} must be a non-empty string")
    items = data["requirements"]
    if not isinstance(items, list) or not items:
        raise fault("requirements must be a non-empty list")
    parts = _parts(data.get("parts", []), fault)
    texts: dict[str, tuple[str, ...]] = {}
    for key in ("anomalies", "notes"):
        value = data.get(key, [])
        if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
            raise fault(f"{key} must be a list of sentences")
        texts[key] = tuple(value)
    return _Header(parts, texts["anomalies"], texts["notes"])


def _item(item: Any, where: str, declared: set[str], fault: Fault) -> list[Requirement]:
    """One entry of ``requirements``: a list of permissions, one trust, or the instance profile."""
    if not isinstance(item, Mapping) or item.get("kind") not in _ITEM_KEYS:
        raise fault(f"{where}: kind must be one of {', '.join(_ITEM_KEYS)}")
    kind = item["kind"]
    _check_keys(item, _ITEM_KEYS[kind], where, fault, required={"kind", "story"})
    story = item["story"]
    severity = item.get("severity", "normal")
    if severity not in SEVERITIES:
        raise fault(f"{where}: severity {severity!r} is not one of {', '.join(SEVERITIES)}")
    see_also = item.get("see_also")
    if kind == "permissions":
        part = item.get("part")
        if declared and part not in declared:
            raise fault(f"{where}: part must be one of the declared parts {', '.join(sorted(declared))}")
        if not declared and part is not None:
            raise fault(f"{where}: part {part!r} is not declared: list it under the set's parts")
        return _permissions(item, where, story, severity, see_also, fault, part)
    if kind == "trust":
        principal = _principal(item.get("principal"), where, fault)
        default_id = "trust:" + (principal if isinstance(principal, str) else principal[0][1])
        return [
            Requirement(item.get("id", default_id), "trust", story, severity, principal=principal, see_also=see_also)
        ]
    return [Requirement(item.get("id", "instance-profile"), "instance-profile", story, severity, see_also=see_also)]


def _merge(requirements: list[Requirement], fault: Fault) -> list[Requirement]:
    """One requirement per id, in file order: a permission two parts ask for joins both; any other repeat is a fault."""
    merged: dict[str, Requirement] = {}
    for requirement in requirements:
        known = merged.get(requirement.id)
        if known is None:
            merged[requirement.id] = requirement
        elif known.kind == "permission" and known.parts and not set(known.parts) & set(requirement.parts):
            # The same permission asked for by two parts (two operations): one requirement in both.
            merged[requirement.id] = replace(known, parts=(*known.parts, *requirement.parts))
        else:
            raise fault(f"duplicate requirement id {requirement.id!r}")
    return list(merged.values())


def _parts(value: Any, fault: Fault) -> tuple[tuple[str, str], ...]:
    if not isinstance(value, list):
        raise fault("parts must be a list of {name, title}")
    parts: list[tuple[str, str]] = []
    for number, item in enumerate(value, start=1):
        if not isinstance(item, Mapping):
            raise fault(f"part #{number} must be a mapping with name and title")
        _check_keys(item, _PART_KEYS, f"part #{number}", fault, required=_PART_KEYS)
        if not isinstance(item["name"], str) or not PART_RE.match(item["name"]):
            raise fault(f"part #{number}: name must be lower-case letters, digits and dashes")
        if any(item["name"] == known for known, _ in parts):
            raise fault(f"part {item['name']!r} is declared twice")
        parts.append((item["name"], str(item["title"])))
    return tuple(parts)


def _context(value: Any, where: str, fault: Fault) -> tuple[tuple[str, tuple[str, ...]], ...]:
    if value is None:
        return ()
    if not isinstance(value, Mapping) or not value:
        raise fault(f"{where}: context must be a mapping of condition key to value (or list of values)")
    entries = []
    for key, raw in sorted(value.items()):
        values = raw if isinstance(raw, list) else [raw]
        if not isinstance(key, str) or not CONTEXT_KEY_RE.match(key):
            raise fault(f"{where}: context key {key!r} is not a condition key like aws:RequestTag/Name")
        if not values or not all(isinstance(v, str) and v for v in values):
            raise fault(f"{where}: context {key} must be a string or a list of strings")
        entries.append((key, tuple(values)))
    return tuple(entries)


def _check_keys(item: Mapping[str, Any], allowed: set[str], where: str, fault: Fault, *, required: set[str]) -> None:
    unknown = sorted(set(item) - allowed)
    if unknown:
        raise fault(f"{where}: unknown key {unknown[0]!r} (allowed: {', '.join(sorted(allowed))})")
    missing = sorted(required - set(item))
    if missing:
        raise fault(f"{where}: missing key {missing[0]!r}")


def _permissions(
    item: Mapping[str, Any],
    where: str,
    story: str,
    severity: str,
    see_also: str | None,
    fault: Fault,
    part: str | None,
) -> list[Requirement]:
    actions = item.get("actions")
    if not isinstance(actions, list) or not actions:
        raise fault(f"{where}: actions must be a non-empty list of service:Action names")
    resource = item.get("resource", "*")
    if not isinstance(resource, str) or not (resource == "*" or resource.startswith("arn:")):
        raise fault(f'{where}: resource must be "*" or an ARN')
    context = _context(item.get("context"), where, fault)
    # "*" without context keeps the plain id (the FLR set's ids are pinned); otherwise the id says where/when.
    suffix = ("" if resource == "*" else f"@{resource}") + context_suffix(context)
    result = []
    for action in actions:
        if not isinstance(action, str) or not ACTION_RE.match(action):
            raise fault(
                f"{where}: {action!r} is not an action name like ec2:DescribeInstances "
                "(service prefix, colon, action; no wildcards)"
            )
        if not has_action(action):
            # AWS's simulator answers a name no service defines like any other (allowed under ec2:*).
            raise fault(f"{where}: {unknown_action_message(action)}")
        result.append(
            Requirement(
                f"permission:{action}{suffix}",
                "permission",
                story,
                severity,
                action=action,
                resource=resource,
                see_also=see_also,
                context=context,
                parts=(part,) if part else (),
            )
        )
    return result


def _principal(value: Any, where: str, fault: Fault) -> str | tuple[tuple[str, str], ...]:
    if value == "appliance":
        return "appliance"
    if isinstance(value, Mapping) and len(value) == 1:
        ((kind, name),) = value.items()
        if kind == "Service" and isinstance(name, str) and SERVICE_PRINCIPAL_RE.match(name):
            return (("Service", name),)
        if kind == "AWS" and isinstance(name, str) and name:
            return (("AWS", name),)
    raise fault(f'{where}: principal must be "appliance", {{Service: x.amazonaws.com}} or {{AWS: arn}}')
