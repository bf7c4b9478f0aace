"""Targets files: which roles to verify, in which accounts, reached how.

``--targets FILE`` (YAML or JSON) holds a mapping with a ``targets`` list. Each entry names either
one role (``role_arn``) or an account and a role-name pattern (``account`` + ``role_name``, a
shell-style glob such as ``VeeamWorker*``, matched case-insensitively as IAM names are). Optional
keys: ``assume_role_arn`` and ``external_id`` (how to reach the account: STS AssumeRole from the
default credential chain), ``appliance_principal``, ``region``, ``regions`` (where the entry's roles
run: each permission must be allowed in each, as ``--regions``) and ``requirements`` (a bundled
set's spec, such as ``veeam-ec2-backup:base`` or ``veeam-ec2-backup+veeam-ec2-restore``, or a file
path relative to the targets file).

The schema is checked when the file loads; every fault is one line naming the file and entry.
Patterns are resolved with ListRoles (paginated), once per run, in the xdist controller.

    targets:
      - role_arn: arn:aws:iam::111111111111:role/VeeamWorker
      - account: "222222222222"
        role_name: "VeeamWorker*"
        assume_role_arn: arn:aws:iam::222222222222:role/RoleVerification
        external_id: nightly-verification
        appliance_principal: arn:aws:iam::333333333333:role/VeeamImpersonation
        region: eu-west-1
        regions: [eu-west-1, eu-central-1]
        requirements: veeam-flr-worker-prod
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from verification.errors import InputError
from verification.names import ROLE_ARN_RE, AppliancePrincipal, RoleRef
from verification.requirements import is_bundled
from verification.scope.regions import parse_regions, region_partition, unknown_region

ACCOUNT_RE = re.compile(r"^\d{12}$")
#: A role-name glob: IAM's name characters plus ``*``, ``?`` and ``[...]`` classes.
PATTERN_RE = re.compile(r"^[\w+=,.@*?\[\]!-]{1,64}$")
REGION_RE = re.compile(r"^[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-\d$")
EXTERNAL_ID_RE = re.compile(r"^[\w+=,.@:/-]{2,1224}$")
KEYS = (
    "role_arn",
    "account",
    "role_name",
    "assume_role_arn",
    "external_id",
    "appliance_principal",
    "region",
    "regions",
    "requirements",
)


@dataclass(frozen=True)
class TargetSpec:
    """One entry of a targets file, checked. ``index`` is its 1-based position in the file."""

    index: int
    role: RoleRef | None
    account: str
    role_name: str | None = None
    assume_role_arn: str | None = None
    external_id: str | None = None
    appliance: AppliancePrincipal | None = None
    region: str | None = None
    requirements: str | None = None
    regions: tuple[str, ...] = ()

    @property
    def connection(self) -> str:
        """Name of the connection this entry uses; entries that reach an account alike share one."""
        if not (self.assume_role_arn or self.region or self.external_id):
            return f"{self.account}"
        via = self.assume_role_arn or "default credentials"
        extra = f" external-id {hashlib.sha256(self.external_id.encode()).hexdigest()[:8]}" if self.external_id else ""
        return f"{self.account} via {via}{' in ' + self.region if self.region else ''}{extra}"

    def connection_options(self) -> dict[str, Any]:
        """Backend options this entry adds to the run's own (credentials, region, account)."""
        options: dict[str, Any] = {"account": self.account}
        if self.assume_role_arn:
            options["assume_role_arn"] = self.assume_role_arn
        if self.external_id:
            options["external_id"] = self.external_id
        if self.region:
            options["region"] = self.region
        return options


@dataclass(frozen=True)
class Resolved:
    """A concrete role to verify and the entry that named it."""

    index: int
    arn: str


def read_document(path: Path | str) -> Mapping[str, Any]:
    """A targets file's top-level mapping (``targets`` and/or ``organization``), or one InputError line."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise InputError(f"targets file {path}: cannot be read ({error.strerror or error})") from None
    except UnicodeDecodeError as error:
        raise InputError(f"targets file {path}: not UTF-8 text (byte {error.start})") from None
    try:
        data = json.loads(text) if path.suffix.lower() == ".json" else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as error:
        mark = getattr(error, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else f" at line {getattr(error, 'lineno', '?')}"
        raise InputError(
            f"targets file {path}: not valid {'JSON' if path.suffix == '.json' else 'YAML'}{where}"
        ) from None
    if not isinstance(data, Mapping) or set(data) not in ({"targets"}, {"organization"}):
        raise InputError(
            f"targets file {path}: expected a mapping with one key, 'targets' (a list of entries) or "
            "'organization' (the accounts of an AWS Organization; see docs/organization.md)"
        )
    return data


def load_targets(path: Path | str) -> list[TargetSpec]:
    """Read and check a targets file; InputError with one line per fault (file and entry named)."""
    path = Path(path)
    data = read_document(path)
    if "targets" not in data:
        return []
    entries = data["targets"]
    if not isinstance(entries, list) or not entries:
        raise InputError(f"targets file {path}: 'targets' must be a non-empty list of entries")
    faults: list[str] = []
    specs: list[TargetSpec] = []
    for number, entry in enumerate(entries, start=1):
        prefix = f"{path}: entry {number}: "
        own: list[str] = []
        spec = _entry(entry, number, path, own.append)
        faults.extend(prefix + message for message in own)
        if spec is not None and not own:
            specs.append(spec)
    if faults:
        raise InputError("\n".join(faults))
    return specs


def _entry(entry: Any, number: int, path: Path, fault: Callable[[str], None]) -> TargetSpec | None:
    if not isinstance(entry, Mapping):
        fault(f"is a {type(entry).__name__}, not a mapping of {', '.join(KEYS)}")
        return None
    for key in entry:
        if key not in KEYS:
            fault(f"unknown key {key!r} (allowed: {', '.join(KEYS)})")
    if isinstance(entry.get("regions"), list) and all(isinstance(r, str) for r in entry["regions"]):
        entry = {**entry, "regions": ",".join(entry["regions"])}
    for key, value in entry.items():
        if key in KEYS and not isinstance(value, str):
            hint = "; quote it: YAML reads unquoted digits as a number" if isinstance(value, int) else ""
            fault(f"{key} must be a string, not {type(value).__name__}{hint}")
    values = {key: value.strip() for key, value in entry.items() if key in KEYS and isinstance(value, str)}

    role: RoleRef | None = None
    account = values.get("account")
    if "role_arn" in values:
        if "role_name" in values or "account" in values:
            fault("give either role_arn, or account and role_name, not both")
        try:
            role = RoleRef.parse(values["role_arn"])
            account = role.account
        except InputError as error:
            fault(f"role_arn: {error}")
    elif "role_name" in entry or "account" in entry:
        if account is not None and not ACCOUNT_RE.match(account):
            fault(f"account {account!r} is not a 12-digit AWS account id")
        if "account" not in entry:
            fault('role_name needs the account it is in: add account: "123456789012"')
        if "role_name" not in entry:
            fault('account needs role_name, a role name or pattern such as "VeeamWorker*"')
        name = values.get("role_name")
        if name is not None and not PATTERN_RE.match(name):
            fault(f"role_name {name!r} is not a role name or glob (letters, digits, +=,.@_- and * ? [ ])")
    else:
        fault("names no role: give role_arn, or account and role_name")

    assume = values.get("assume_role_arn")
    if assume is not None:
        match = ROLE_ARN_RE.match(assume)
        if not match:
            fault(f"assume_role_arn {assume!r} is not a role ARN (arn:aws:iam::ACCOUNT:role/NAME)")
        elif account and ACCOUNT_RE.match(account) and match["account"] != account:
            fault(f"assume_role_arn is in account {match['account']}, but the entry's roles are in {account}")
    external = values.get("external_id")
    if external is not None:
        if assume is None and "assume_role_arn" not in entry:
            fault("external_id applies only with assume_role_arn")
        if not EXTERNAL_ID_RE.match(external):
            fault("external_id must be 2 to 1224 characters of letters, digits and +=,.@:/-_")
    appliance: AppliancePrincipal | None = None
    if "appliance_principal" in values:
        try:
            appliance = AppliancePrincipal.parse(values["appliance_principal"])
        except InputError as error:
            fault(f"appliance_principal: {str(error).removeprefix('--appliance-principal ')}")
    region = values.get("region")
    if region is not None and not REGION_RE.match(region):
        fault(f"region {region!r} is not an AWS region name such as eu-west-1")
    elif region is not None and region_partition(region) is None:
        fault(str(unknown_region(region, "region:")))
    requirements = values.get("requirements")
    if requirements is not None:
        requirements = _requirements_ref(requirements, path, fault)
    judged: tuple[str, ...] = ()
    if "regions" in values:
        try:
            judged = parse_regions(values["regions"], option="regions")
        except InputError as error:
            fault(str(error))
    if account is None or (role is None and "role_name" not in values):
        return None
    return TargetSpec(
        number, role, account, values.get("role_name"), assume, external, appliance, region, requirements, judged
    )


def _requirements_ref(value: str, path: Path, fault: Callable[[str], None]) -> str:
    """A bundled set's spec as is (``NAME[@VERSION][:PARTS]``, ``A+B``); a file path relative to the targets file."""
    if is_bundled(value):
        return value
    candidate = Path(value) if Path(value).is_absolute() else path.parent / value
    if candidate.is_file():
        return str(candidate)
    fault(f"requirements {value!r} is neither a bundled set nor a file next to the targets file")
    return value


def resolve(
    specs: Sequence[TargetSpec], list_roles: Callable[[TargetSpec], Sequence[str]], source: str = "targets"
) -> list[Resolved]:
    """Turn entries into concrete role ARNs, in file order.

    ``list_roles(spec)`` returns every role ARN of the entry's account (ListRoles, all pages, through
    the entry's connection); it is called once per distinct connection, only for pattern entries.
    A pattern that matches nothing, or a role named by two entries, is an InputError.
    """
    listed: dict[str, Sequence[str]] = {}
    out: list[Resolved] = []
    named_by: dict[str, int] = {}
    faults: list[str] = []
    for spec in specs:
        if spec.role is not None:
            arns = [spec.role.arn]
        else:
            assert spec.role_name is not None
            if spec.connection not in listed:
                listed[spec.connection] = list_roles(spec)
            pattern = spec.role_name.lower()
            arns = [
                arn for arn in listed[spec.connection] if fnmatch.fnmatchcase(arn.rsplit("/", 1)[-1].lower(), pattern)
            ]
            if not arns:
                faults.append(
                    f"entry {spec.index}: role_name {spec.role_name!r} matches no role in account {spec.account}"
                )
        for arn in arns:
            if arn in named_by:
                faults.append(f"entry {spec.index}: {arn} is already named by entry {named_by[arn]}: keep one")
                continue
            named_by[arn] = spec.index
            out.append(Resolved(spec.index, arn))
    if faults:
        raise InputError("\n".join(f"{source}: {line}" for line in faults))
    return out
