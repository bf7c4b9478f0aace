"""Requirement sets: documented requirements as data, loaded and schema-checked.

May import: errors, PyYAML and the standard library; never backends, pytest or Allure.

A set is a YAML (or JSON) file under ``fixtures/requirements/``. Each requirement has a stable id
(``permission:<action>``, ``trust:<principal>``, ``instance-profile``) used in test ids, reports,
evidence and history, so renaming one is a breaking change.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
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

_SET_KEYS = {"id", "title", "version", "source", "epic", "feature", "requirements"}
_SOURCE_KEYS = {"url", "product", "product_build", "page_updated"}
_ITEM_KEYS = {
    "instance-profile": {"id", "kind", "story", "severity", "see_also"},
    "trust": {"id", "kind", "principal", "story", "severity", "see_also"},
    "permissions": {"kind", "story", "severity", "resource", "actions", "see_also"},
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
    sha256: str

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
    """Names of the bundled requirement sets."""
    return sorted(p.stem for p in REQUIREMENTS_DIR.glob("*.yaml"))


def resolve_path(name_or_path: str) -> Path:
    """A bundled set's name, or a path to a set file."""
    candidate = Path(name_or_path)
    if candidate.suffix in (".yaml", ".yml", ".json"):
        if not candidate.is_file():
            raise InputError(f"requirement set file {name_or_path} does not exist")
        return candidate
    bundled = REQUIREMENTS_DIR / f"{name_or_path}.yaml"
    if not bundled.is_file():
        raise InputError(
            f"unknown requirement set {name_or_path!r}: use one of {', '.join(available_sets())} "
            "or the path of a .yaml/.json file"
        )
    return bundled


def load_requirement_set(name_or_path: str = DEFAULT_SET) -> RequirementSet:
    """Load and schema-check a requirement set; raise InputError with one line on any fault."""
    path = resolve_path(name_or_path)
    raw = path.read_bytes()
    try:
        data = yaml.safe_load(raw)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark is not None else ""
        raise InputError(f"requirement set {path}: not valid YAML/JSON{where}") from None
    return parse_requirement_set(data, path=path, sha256=hashlib.sha256(raw).hexdigest())


def parse_requirement_set(data: Any, *, path: Path, sha256: str) -> RequirementSet:
    """Check a loaded document against the schema and build the set."""

    def fault(message: str) -> InputError:
        return InputError(f"requirement set {path}: {message}")

    if not isinstance(data, Mapping):
        raise fault("the top level must be a mapping with id, title, version, source and requirements")
    _check_keys(data, _SET_KEYS, "the set", fault, required=_SET_KEYS)
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
            requirements.extend(_permissions(item, where, story, severity, see_also, fault))
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

    seen: set[str] = set()
    for requirement in requirements:
        if requirement.id in seen:
            raise fault(f"duplicate requirement id {requirement.id!r}")
        seen.add(requirement.id)
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
        requirements=tuple(requirements),
        path=path,
        sha256=sha256,
    )


def _check_keys(item: Mapping[str, Any], allowed: set[str], where: str, fault: Any, *, required: set[str]) -> None:
    unknown = sorted(set(item) - allowed)
    if unknown:
        raise fault(f"{where}: unknown key {unknown[0]!r} (allowed: {', '.join(sorted(allowed))})")
    missing = sorted(required - set(item))
    if missing:
        raise fault(f"{where}: missing key {missing[0]!r}")


def _permissions(
    item: Mapping[str, Any], where: str, story: str, severity: str, see_also: str | None, fault: Any
) -> list[Requirement]:
    actions = item.get("actions")
    if not isinstance(actions, list) or not actions:
        raise fault(f"{where}: actions must be a non-empty list of service:Action names")
    resource = item.get("resource", "*")
    if not isinstance(resource, str) or not (resource == "*" or resource.startswith("arn:")):
        raise fault(f'{where}: resource must be "*" or an ARN')
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
                f"permission:{action}",
                "permission",
                story,
                severity,
                action=action,
                resource=resource,
                see_also=see_also,
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
