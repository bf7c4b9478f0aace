"""Requirement sets: documented requirements as data, loaded and schema-checked.

Its layer's place in the one import rule: ``ORDER`` in ``tests/test_layers.py``.

A set is a YAML (or JSON) file under ``fixtures/requirements/``; earlier versions of a set live in
``fixtures/requirements/versions/NAME@VERSION.yaml``. Each requirement has a stable id
(``permission:<action>``, ``trust:<principal>``, ``instance-profile``) used in test ids, reports,
evidence and history, so renaming one is a breaking change. A permission that a page grants only on
some resources or under a condition carries them (``resource``, ``context``) and its id says so.

A set may have *parts* (a page's lists per operation). A run names what it verifies with a spec:
``NAME[@VERSION][:PART,PART]``, several joined by ``+`` for their union (one role used for several
operations); a requirement that two sets share is verified once.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

import yaml

from verification import FIXTURES
from verification.errors import InputError
from verification.scope.catalogue import has_action, unknown_action_message

REQUIREMENTS_DIR = FIXTURES / "requirements"
DEFAULT_SET = "veeam-flr-worker-prod"

Kind = Literal["permission", "trust", "instance-profile"]
SEVERITIES = ("blocker", "critical", "normal", "minor", "trivial")
#: ``service:Action`` with no wildcard: SimulatePrincipalPolicy needs concrete action names.
ACTION_RE = re.compile(r"^[a-z0-9][a-z0-9-]*:[A-Za-z0-9]+$")
SERVICE_PRINCIPAL_RE = re.compile(r"^[a-z0-9][a-z0-9.-]*\.amazonaws\.com(\.cn)?$")

VERSIONS_DIR = REQUIREMENTS_DIR / "versions"
#: A spec: a bundled name (optionally ``@VERSION``) or a file path, then optionally ``:PART,PART``.
SPEC_RE = re.compile(r"^(?P<name>.+?)(?::(?P<parts>[a-z0-9-]+(?:,[a-z0-9-]+)*))?$")
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


@dataclass(frozen=True)
class Requirement:
    """One checkable requirement.

    ``principal`` (trust only) is ``"appliance"`` (named at run time by ``--appliance-principal``)
    or a mapping such as ``{"Service": "ec2.amazonaws.com"}``.
    """

    id: str
    kind: Kind
    story: str
    severity: str
    action: str | None = None
    resource: str = "*"
    principal: str | tuple[tuple[str, str], ...] | None = None
    see_also: str | None = None
    #: Condition keys and values the page's Allow needs (``ec2:ResourceTag/EfsIndexWorker``...):
    #: the simulation is asked with them, so "allowed with that context" is met.
    context: tuple[tuple[str, tuple[str, ...]], ...] = ()
    #: The set's parts this requirement belongs to (empty: the set has no parts, or not a permission).
    parts: tuple[str, ...] = ()
    #: The sets (their spec names) the requirement comes from; two or more in a union.
    sets: tuple[str, ...] = ()

    @property
    def simulation_key(self) -> tuple[str, str]:
        """Which simulation answer judges this requirement: the action, on its resource, with its context."""
        assert self.action is not None
        return (self.action.lower(), self.resource + context_suffix(self.context))

    @property
    def same_as(self) -> tuple[object, ...]:
        """What makes two sets' requirements one (verified once in a union)."""
        return (self.kind, self.action, self.resource, self.context, self.principal)

    @property
    def title(self) -> str:
        """A short human title for the requirement."""
        if self.kind == "permission":
            return f"The role is granted {self.action}"
        if self.kind == "trust":
            return f"Trust: {self.story.split('. ', 1)[-1]}"
        return "The role is in at least one instance profile"


@dataclass(frozen=True)
class RequirementSet:
    """A versioned, sourced set of requirements for one kind of role."""

    id: str
    title: str
    version: str
    source_url: str
    product: str
    product_build: str
    page_updated: str
    epic: str
    feature: str
    requirements: tuple[Requirement, ...]
    path: Path
    #: The file's SHA-256; for a selection of parts, of the file's hash and the choice; for a union,
    #: of its members' hashes.
    sha256: str
    #: How the run named it (``veeam-ec2-backup:base``, ``a+b``); the file's stem when loaded whole.
    name: str = ""
    #: Every part of the set as declared (name, title); ``selected`` is the run's choice (all by default).
    parts: tuple[tuple[str, str], ...] = ()
    selected: tuple[str, ...] = ()
    #: What the transcription found odd on the page (malformed policy JSON...), recorded, not hidden.
    anomalies: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    #: The whole sets a union was made of (empty for a single set).
    members: tuple[RequirementSet, ...] = ()

    @property
    def sources(self) -> tuple[RequirementSet, ...]:
        """The whole-file sets this one was made of: the members of a union, else itself."""
        return self.members or (self,)

    def features_of(self, requirement: Requirement) -> tuple[str, ...]:
        """The Allure feature of each set a requirement comes from (one, unless a union's sets share it)."""
        named = tuple(m.feature for m in self.members if m.name in requirement.sets)
        return named or (self.feature,)

    @property
    def selection(self) -> str:
        """``:PART,PART`` when only some of the file's parts were chosen, else empty."""
        everything = tuple(name for name, _ in self.parts)
        return f":{','.join(self.selected)}" if self.parts and self.selected != everything else ""

    @property
    def actions(self) -> tuple[str, ...]:
        """Every action the set requires, in file order."""
        return tuple(r.action for r in self.requirements if r.action is not None)

    @cached_property
    def _index(self) -> dict[str, Requirement]:
        return {r.id: r for r in self.requirements}

    def by_id(self, requirement_id: str) -> Requirement:
        """The requirement with this stable id (KeyError if the set has none)."""
        return self._index[requirement_id]

    def by_kind(self, kind: Kind) -> tuple[Requirement, ...]:
        """The requirements of one kind, in file order."""
        return tuple(r for r in self.requirements if r.kind == kind)


def available_sets() -> list[str]:
    """Names of the bundled requirement sets (current versions)."""
    return sorted(p.stem for p in REQUIREMENTS_DIR.glob("*.yaml"))


def available_versions() -> list[str]:
    """Names of the bundled earlier versions, ``NAME@VERSION``."""
    return sorted(p.stem for p in VERSIONS_DIR.glob("*.yaml")) if VERSIONS_DIR.is_dir() else []


def is_bundled(spec: str) -> bool:
    """Does the spec (or every member of a union) name bundled sets, whatever parts it selects?"""
    for one in spec.split("+"):
        match = SPEC_RE.match(one.strip())
        name = match["name"] if match else one
        if not _bundled_path(name).is_file():
            return False
    return True


def _bundled_path(name: str) -> Path:
    return (VERSIONS_DIR if "@" in name else REQUIREMENTS_DIR) / f"{name}.yaml"


def resolve_path(name_or_path: str) -> Path:
    """A bundled set's name (``NAME`` or ``NAME@VERSION``), or a path to a set file."""
    candidate = Path(name_or_path)
    if candidate.suffix in (".yaml", ".yml", ".json"):
        if not candidate.is_file():
            raise InputError(f"requirement set file {name_or_path} does not exist")
        return candidate
    bundled = _bundled_path(name_or_path)
    if not bundled.is_file():
        known = ", ".join(available_sets() + available_versions())
        raise InputError(
            f"unknown requirement set {name_or_path!r}: use one of {known} or the path of a .yaml/.json file"
        )
    return bundled


def load_requirement_set(spec: str = DEFAULT_SET) -> RequirementSet:
    """Load and schema-check a requirement set; raise InputError with one line on any fault.

    ``spec`` is ``NAME[@VERSION][:PART,PART]`` or a file path (optionally ``:PART,...``); several
    joined by ``+`` load as their union (see ``union``).
    """
    members = [one.strip() for one in spec.split("+")]
    if len(members) > 1:
        if any(not one for one in members):
            raise InputError(f"requirement set spec {spec!r} has an empty member: join set names with one '+'")
        return union([_load_one(one) for one in members])
    return _load_one(spec)


def _load_one(spec: str) -> RequirementSet:
    match = SPEC_RE.match(spec)
    name, parts = (match["name"], match["parts"]) if match else (spec, None)
    path = resolve_path(name)
    raw = path.read_bytes()
    try:
        data = yaml.safe_load(raw)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark is not None else ""
        raise InputError(f"requirement set {path}: not valid YAML/JSON{where}") from None
    # A file is named by its stem, so a replay from a bundle's copy gives the same test ids.
    label = path.stem if Path(name).suffix in (".yaml", ".yml", ".json") else name
    loaded = parse_requirement_set(data, path=path, sha256=hashlib.sha256(raw).hexdigest(), name=label)
    return select_parts(loaded, parts.split(",")) if parts else loaded


def select_parts(requirements: RequirementSet, parts: list[str]) -> RequirementSet:
    """The set restricted to some of its parts (trust and instance-profile requirements always apply)."""
    declared = [name for name, _ in requirements.parts]
    if not declared:
        raise InputError(f"requirement set {requirements.name} has no parts to select; drop ':{','.join(parts)}'")
    unknown = [part for part in parts if part not in declared]
    if unknown:
        raise InputError(
            f"requirement set {requirements.name} has no part {unknown[0]!r}: its parts are {', '.join(declared)}"
        )
    chosen = tuple(part for part in declared if part in parts)
    kept = tuple(r for r in requirements.requirements if r.kind != "permission" or set(r.parts) & set(chosen))
    name = f"{requirements.name}:{','.join(chosen)}"
    return replace(
        requirements,
        requirements=tuple(replace(r, sets=(name,)) for r in kept),
        name=name,
        selected=chosen,
        # What was verified is the file *and* the choice: two selections of one file are two sets.
        sha256=hashlib.sha256(f"{requirements.sha256}:{','.join(chosen)}".encode()).hexdigest(),
    )


def union(sets: list[RequirementSet]) -> RequirementSet:
    """One role, several sets: every requirement of each, a shared one once, its id naming its sets.

    Ids become ``SET/ID`` (``SET+SET/ID`` for a requirement two sets share), so test ids and reports
    say which set asks for it; a requirement the sets share is verified once.
    """
    names = [s.name for s in sets]
    if len(set(names)) != len(names):
        raise InputError(f"requirement set {names[0]!r} is named twice in {'+'.join(names)}")
    merged: dict[tuple[object, ...], Requirement] = {}
    for member in sets:
        for requirement in member.requirements:
            known = merged.get(requirement.same_as)
            merged[requirement.same_as] = (
                replace(requirement, sets=(member.name,))
                if known is None
                else replace(known, sets=(*known.sets, member.name), parts=(*known.parts, *requirement.parts))
            )
    combined = tuple(replace(r, id=f"{'+'.join(r.sets)}/{r.id}") for r in merged.values())
    first = sets[0]
    return RequirementSet(
        id="+".join(s.id for s in sets),
        title=" + ".join(s.title for s in sets),
        version="; ".join(f"{s.name} {s.version}" for s in sets),
        source_url=first.source_url,
        product=first.product,
        product_build=", ".join(dict.fromkeys(s.product_build for s in sets)),
        page_updated=", ".join(dict.fromkeys(s.page_updated for s in sets)),
        epic=first.epic,
        feature=" + ".join(s.feature for s in sets),
        requirements=combined,
        path=first.path,
        sha256=hashlib.sha256("+".join(s.sha256 for s in sets).encode()).hexdigest(),
        name="+".join(names),
        anomalies=tuple(a for s in sets for a in s.anomalies),
        members=tuple(sets),
    )


def describe_scope(resource: str, context: tuple[tuple[str, tuple[str, ...]], ...]) -> str:
    """``*``, or ``* when key=value and key=value``: where and when a permission is required, for people."""
    when = " and ".join(f"{key}={'|'.join(values)}" for key, values in context)
    return f"{resource} when {when}" if when else resource


def context_suffix(context: tuple[tuple[str, tuple[str, ...]], ...]) -> str:
    """``?key=value&key=value`` for a requirement that needs a context; empty otherwise."""
    if not context:
        return ""
    return "?" + "&".join(f"{key}={'|'.join(values)}" for key, values in context)


def parse_requirement_set(data: Any, *, path: Path, sha256: str, name: str = "") -> RequirementSet:
    """Check a loaded document against the schema and build the set."""

    def fault(message: str) -> InputError:
        return InputError(f"requirement set {path}: {message}")

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
    declared = {part for part, _ in parts}
    texts: dict[str, tuple[str, ...]] = {}
    for key in ("anomalies", "notes"):
        value = data.get(key, [])
        if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
            raise fault(f"{key} must be a list of sentences")
        texts[key] = tuple(value)

    requirements: list[Requirement] = []
    for number, item in enumerate(items, start=1):
        where = f"requirement #{number}"
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
            requirements.extend(_permissions(item, where, story, severity, see_also, fault, part))
        elif kind == "trust":
            principal = _principal(item.get("principal"), where, fault)
            default_id = "trust:" + (principal if isinstance(principal, str) else principal[0][1])
            requirements.append(
                Requirement(
                    item.get("id", default_id),
                    "trust",
                    story,
                    severity,
                    principal=principal,
                    see_also=see_also,
                )
            )
        else:
            requirements.append(
                Requirement(item.get("id", "instance-profile"), "instance-profile", story, severity, see_also=see_also)
            )

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
    for part in declared - {p for r in merged.values() for p in r.parts}:
        raise fault(f"part {part!r} has no permissions")
    set_name = name or path.stem
    src = data["source"]
    return RequirementSet(
        id=data["id"],
        title=data["title"],
        version=str(data["version"]),
        source_url=str(src["url"]),
        product=str(src["product"]),
        product_build=str(src["product_build"]),
        page_updated=str(src["page_updated"]),
        epic=data["epic"],
        feature=data["feature"],
        requirements=tuple(replace(r, sets=(set_name,)) for r in merged.values()),
        path=path,
        sha256=sha256,
        name=set_name,
        parts=parts,
        selected=tuple(part for part, _ in parts),
        anomalies=texts["anomalies"],
        notes=texts["notes"],
    )


def _parts(value: Any, fault: Any) -> tuple[tuple[str, str], ...]:
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


def _context(value: Any, where: str, fault: Any) -> tuple[tuple[str, tuple[str, ...]], ...]:
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


def _check_keys(item: Mapping[str, Any], allowed: set[str], where: str, fault: Any, *, required: set[str]) -> None:
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
    fault: Any,
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


def _principal(value: Any, where: str, fault: Any) -> str | tuple[tuple[str, str], ...]:
    if value == "appliance":
        return "appliance"
    if isinstance(value, Mapping) and len(value) == 1:
        ((kind, name),) = value.items()
        if kind == "Service" and isinstance(name, str) and SERVICE_PRINCIPAL_RE.match(name):
            return (("Service", name),)
        if kind == "AWS" and isinstance(name, str) and name:
            return (("AWS", name),)
    raise fault(f'{where}: principal must be "appliance", {{Service: x.amazonaws.com}} or {{AWS: arn}}')
