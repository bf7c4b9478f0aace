"""Reading snapshot and SCP files: plain or gzip-compressed JSON, in every form the AWS CLI or the exporter writes.

``load_snapshot`` accepts one API response, a list of response pages, the merged output the AWS
CLI writes, or the wrapper ``python -m verification snapshot export`` writes (which adds the
caller, a timestamp and the SCPs). Every fault is an ``InputError`` of one line naming the file and
the fault.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import zlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from verification.errors import InputError
from verification.names import CallerIdentity

#: The ``format`` value of the export wrapper; the suffix is the version this code reads.
FORMAT = "veeam-role-verification/snapshot@1"
FORMAT_PREFIX = "veeam-role-verification/snapshot@"
#: The lists of a GetAccountAuthorizationDetails response, merged across pages.
DETAIL_LISTS = ("UserDetailList", "GroupDetailList", "RoleDetailList", "Policies")

Fault = Callable[[str], InputError]


@dataclass(frozen=True)
class Snapshot:
    """One loaded snapshot.

    ``details`` is the merged authorization-details document (all four lists always present).
    ``scps`` lists the SCP levels root → OUs → account as the exporter found them; None when they
    were not captured (``scp_note`` then says why), ``[]`` when none apply to the account.
    """

    path: Path
    sha256: str
    details: Mapping[str, Any]
    account_id: str | None = None
    caller: CallerIdentity | None = None
    captured_at: str | None = None
    scps: list[list[dict[str, Any]]] | None = None
    scp_note: str | None = None
    #: The account's organization (``aws:PrincipalOrgID`` of its roles' sessions), when the export saw it.
    organization_id: str | None = None

    @property
    def role_count(self) -> int:
        """How many roles the snapshot holds."""
        return len(self.details["RoleDetailList"])


def load_snapshot(path: Path) -> Snapshot:
    """Read, check and merge a snapshot file; raise InputError with one line on any fault."""
    path = Path(path)

    def fault(message: str) -> InputError:
        return InputError(f"snapshot {path}: {message}")

    raw = _read_bytes(path, fault)
    data = _parse_json(raw, fault)
    sha256 = hashlib.sha256(raw).hexdigest()
    if isinstance(data, Mapping) and "format" in data:
        return _from_wrapper(data, path=path, sha256=sha256, fault=fault)
    details = _merge_details(data, fault)
    return Snapshot(path=path, sha256=sha256, details=details, account_id=_account_of(details))


def details_from_pages(pages: Any, source: str) -> dict[str, Any]:
    """GetAccountAuthorizationDetails pages (as botocore returns them) merged and checked like a snapshot file.

    The live fleet mode reads an account with the same checks an offline run applies; a fault is an
    ``InputError`` naming ``source``.
    """

    def fault(message: str) -> InputError:
        return InputError(f"{source}: {message}")

    return _merge_details(list(pages), fault)


def load_scp_files(paths: Iterable[Path]) -> list[list[dict[str, Any]]]:
    """Read SCP files, one organization level each (root → OUs → account).

    A file holds one SCP document or a list of them (the SCPs attached at that level). A document
    may also be Organizations' ``{"PolicySummary": ..., "Content": "..."}`` or the exporter's
    ``{"Name", "Id", "Content"}`` form.
    """
    levels: list[list[dict[str, Any]]] = []
    for path in paths:
        path = Path(path)

        def fault(message: str, path: Path = path) -> InputError:
            return InputError(f"SCP file {path}: {message}")

        data = _parse_json(_read_bytes(path, fault), fault)
        documents = data if isinstance(data, list) else [data]
        if not documents:
            raise fault("the list is empty: give at least one SCP (FullAWSAccess allows everything)")
        levels.append(
            [
                _check_scp(document, f"[{i}]" if isinstance(data, list) else "the document", fault)
                for i, document in enumerate(documents)
            ]
        )
    return levels


def _read_bytes(path: Path, fault: Fault) -> bytes:
    """The file's bytes, gunzipped when they are gzip (by content, not by name)."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise fault("no such file") from None
    except IsADirectoryError:
        raise fault("is a directory, not a file") from None
    except OSError as error:
        raise fault(f"cannot read: {error.strerror}") from None
    return raw


def _parse_json(raw: bytes, fault: Fault) -> Any:
    """Decode (gunzip if needed) and parse JSON, naming the position of a syntax fault."""
    if raw[:2] == b"\x1f\x8b":
        try:
            raw = gzip.decompress(raw)
        except EOFError:
            raise fault("truncated: the gzip stream ends early") from None
        except (gzip.BadGzipFile, zlib.error) as error:
            raise fault(f"not a valid gzip file ({error})") from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise fault(f"not JSON: not UTF-8 text (byte {error.start})") from None
    if not text.strip():
        raise fault("empty: expected JSON")
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        where = f"line {error.lineno} column {error.colno}"
        if error.pos >= len(text.rstrip()) or error.msg.startswith("Unterminated"):
            raise fault(f"truncated: the JSON ends before the document is complete ({where})") from None
        raise fault(f"not JSON: {error.msg} at {where}") from None


def _from_wrapper(data: Mapping[str, Any], *, path: Path, sha256: str, fault: Fault) -> Snapshot:
    """Read the exporter's wrapper: authorization details plus caller, timestamp and SCPs."""
    form = data["format"]
    if not isinstance(form, str) or not form.startswith(FORMAT_PREFIX):
        raise fault(f"format {form!r} is not a snapshot format this tool knows ({FORMAT})")
    if form != FORMAT:
        raise fault(f"format {form!r} is newer than this tool reads ({FORMAT}): upgrade the tool")
    if "authorization_details" not in data:
        raise fault("authorization_details: missing")
    details = _merge_details(data["authorization_details"], fault, where="authorization_details")

    caller = None
    raw_caller = data.get("caller")
    if raw_caller is not None:
        if not isinstance(raw_caller, Mapping) or not isinstance(raw_caller.get("Arn"), str):
            raise fault("caller: expected an object with Account, Arn and UserId")
        caller = CallerIdentity(
            account=str(raw_caller.get("Account", "")),
            arn=raw_caller["Arn"],
            user_id=str(raw_caller.get("UserId", "")),
        )
    for key in ("account_id", "captured_at", "scp_note", "organization_id"):
        if data.get(key) is not None and not isinstance(data[key], str):
            raise fault(f"{key}: expected a string")

    scps: list[list[dict[str, Any]]] | None = None
    raw_scps = data.get("scps")
    if raw_scps is not None:
        if not isinstance(raw_scps, list) or not all(isinstance(level, list) for level in raw_scps):
            raise fault("scps: expected a list of organization levels, each a list of SCPs")
        scps = [
            [_check_scp(scp, f"scps[{i}][{j}]", fault) for j, scp in enumerate(level)]
            for i, level in enumerate(raw_scps)
        ]
    return Snapshot(
        path=path,
        sha256=sha256,
        details=details,
        account_id=data.get("account_id") or _account_of(details),
        caller=caller,
        captured_at=data.get("captured_at"),
        scps=scps,
        scp_note=data.get("scp_note"),
        organization_id=data.get("organization_id"),
    )


def _merge_details(data: Any, fault: Fault, where: str = "") -> dict[str, Any]:
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


def _check_scp(document: Any, where: str, fault: Fault) -> dict[str, Any]:
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


def _account_of(details: Mapping[str, Any]) -> str | None:
    """The account the snapshot's roles (or customer managed policies) belong to."""
    for item in [*details["RoleDetailList"], *details["Policies"]]:
        parts = str(item.get("Arn", "")).split(":")
        if len(parts) >= 6 and parts[4].isdigit():
            return parts[4]
    return None
