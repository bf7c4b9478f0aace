"""The authorization-details document: pages merged into one, and every part the engine reads checked.

Each fault names the key path of the first wrong value (``RoleDetailList[3].RoleName: missing``);
the caller's ``Fault`` makes it one line naming the file.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from verification.errors import InputError

#: The lists of a GetAccountAuthorizationDetails response, merged across pages.
DETAIL_LISTS = ("UserDetailList", "GroupDetailList", "RoleDetailList", "Policies")

#: Makes the one-line fault for the file being read: ``snapshot PATH: MESSAGE``.
Fault = Callable[[str], InputError]


def merge_details(data: Any, fault: Fault, where: str = "") -> dict[str, Any]:
    """One response, a list of pages, or the CLI's merged output → one merged, checked document."""
    prefix = f"{where}" if where else ""
    if isinstance(data, Mapping):
        pages: Sequence[Any] = [data]
        names = [prefix or "the document"]
    elif isinstance(data, list):
        if not data:
            raise fault(f"{prefix or 'the document'}: an empty list: expected response pages")
        pages = data
        names = [f"{prefix}[{i}]" for i in range(len(data))]
    else:
        raise fault(
            f"{prefix or 'the document'}: expected a get-account-authorization-details response "
            f"(an object with {', '.join(DETAIL_LISTS)}) or a list of them, not {_kind(data)}"
        )
    merged: dict[str, list[Any]] = {key: [] for key in DETAIL_LISTS}
    for number, (page, name) in enumerate(zip(pages, names, strict=True)):
        if not isinstance(page, Mapping):
            raise fault(f"{name}: expected a response page (an object), not {_kind(page)}")
        if not any(key in page for key in DETAIL_LISTS):
            raise fault(
                f"{name}: none of {', '.join(DETAIL_LISTS)} is present: "
                "this is not get-account-authorization-details output"
            )
        if page.get("IsTruncated") is True and number == len(pages) - 1:
            raise fault(
                f"{name}: incomplete: IsTruncated is true, so pages are missing "
                "(the AWS CLI, and `python -m verification snapshot export`, follow all pages)"
            )
        for key in DETAIL_LISTS:
            if key not in page:
                continue
            items = page[key]
            if not isinstance(items, list):
                raise fault(f"{_join(name, key)}: expected a list, not {_kind(items)}")
            merged[key].extend(items)
    _check_details(merged, fault, prefix)
    return dict(merged)


def _check_details(details: Mapping[str, list[Any]], fault: Fault, prefix: str) -> None:
    """Check the parts the account model reads, naming the key path of the first fault."""
    for key in ("UserDetailList", "GroupDetailList"):
        for i, item in enumerate(details[key]):
            if not isinstance(item, Mapping):
                raise fault(f"{_join(prefix, key)}[{i}]: expected an object, not {_kind(item)}")
    for i, role in enumerate(details["RoleDetailList"]):
        here = f"{_join(prefix, 'RoleDetailList')}[{i}]"
        _require(role, here, {"Arn": str, "RoleName": str}, fault)
        _optional(role, here, {"AssumeRolePolicyDocument": (str, Mapping), "RoleId": str, "Path": str}, fault)
        for j, inline in enumerate(_list(role, "RolePolicyList", here, fault)):
            _require(
                inline, f"{here}.RolePolicyList[{j}]", {"PolicyName": str, "PolicyDocument": (str, Mapping)}, fault
            )
        for j, attached in enumerate(_list(role, "AttachedManagedPolicies", here, fault)):
            _require(attached, f"{here}.AttachedManagedPolicies[{j}]", {"PolicyArn": str}, fault)
        for j, profile in enumerate(_list(role, "InstanceProfileList", here, fault)):
            _require(profile, f"{here}.InstanceProfileList[{j}]", {"InstanceProfileName": str, "Arn": str}, fault)
            _list(profile, "Roles", f"{here}.InstanceProfileList[{j}]", fault)
        if role.get("PermissionsBoundary") is not None:
            _require(role["PermissionsBoundary"], f"{here}.PermissionsBoundary", {"PermissionsBoundaryArn": str}, fault)
    for i, policy in enumerate(details["Policies"]):
        here = f"{_join(prefix, 'Policies')}[{i}]"
        _require(policy, here, {"Arn": str}, fault)
        _optional(policy, here, {"PolicyName": str, "DefaultVersionId": str}, fault)
        for j, version in enumerate(_list(policy, "PolicyVersionList", here, fault)):
            _require(version, f"{here}.PolicyVersionList[{j}]", {}, fault)
            _optional(
                version,
                f"{here}.PolicyVersionList[{j}]",
                {"Document": (str, Mapping), "VersionId": str, "IsDefaultVersion": bool},
                fault,
            )


def check_scp(document: Any, where: str, fault: Fault) -> dict[str, Any]:
    """An SCP as a policy document, or as ``{"Name", "Id", "Content"}`` / describe_policy's form."""
    if not isinstance(document, dict):
        raise fault(f"{where}: expected an SCP document (an object), not {_kind(document)}")
    if "Statement" in document:
        return document
    content = document.get("Content")
    if isinstance(content, str | dict):
        return document
    raise fault(f"{where}: not an SCP: expected a policy document with Statement, or an object with Content")


def _require(item: Any, where: str, keys: Mapping[str, Any], fault: Fault) -> None:
    if not isinstance(item, Mapping):
        raise fault(f"{where}: expected an object, not {_kind(item)}")
    for key, kind in keys.items():
        if key not in item:
            raise fault(f"{where}.{key}: missing")
        if not isinstance(item[key], kind):
            raise fault(f"{where}.{key}: expected {_kind_name(kind)}, not {_kind(item[key])}")


def _optional(item: Mapping[str, Any], where: str, keys: Mapping[str, Any], fault: Fault) -> None:
    for key, kind in keys.items():
        if item.get(key) is not None and not isinstance(item[key], kind):
            raise fault(f"{where}.{key}: expected {_kind_name(kind)}, not {_kind(item[key])}")


def _list(item: Mapping[str, Any], key: str, where: str, fault: Fault) -> list[Any]:
    value = item.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        raise fault(f"{where}.{key}: expected a list, not {_kind(value)}")
    return value


def _join(prefix: str, key: str) -> str:
    return f"{prefix}.{key}" if prefix else key


def _kind(value: Any) -> str:
    """A JSON-ish name for a value's type, for messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, Mapping):
        return "an object"
    return type(value).__name__


def _kind_name(kind: Any) -> str:
    kinds = kind if isinstance(kind, tuple) else (kind,)
    names = {str: "a string", bool: "a boolean", Mapping: "an object", list: "a list"}
    return " or ".join(names.get(k, k.__name__) for k in kinds)


def account_of(details: Mapping[str, Any]) -> str | None:
    """The account the snapshot's roles (or customer managed policies) belong to."""
    for item in [*details["RoleDetailList"], *details["Policies"]]:
        parts = str(item.get("Arn", "")).split(":")
        if len(parts) >= 6 and parts[4].isdigit():
            return parts[4]
    return None
