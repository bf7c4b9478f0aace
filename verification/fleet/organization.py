"""An AWS Organization's accounts: which to verify, in which OU, and in which shard.

``discover`` walks the organization from its root (ListRoots, then per parent
ListOrganizationalUnitsForParent and ListAccountsForParent, all paginated): one walk gives every
ACTIVE account with its name and OU path, at two calls per OU rather than one per account. The
caller hands in ``pages(operation, params)``, an Organizations paginator run through the live
backend (read-only, paced, counted), so this module holds no client of its own.

``--ou`` keeps the accounts under the given OUs (their descendants too); ``--skip-ou`` and
``--skip-account`` leave some out. ``--shard I/N`` keeps the accounts whose sha256-based bucket is
I: every job computes the same buckets whatever order the organization lists its accounts in.
"""

from __future__ import annotations

import fnmatch
import hashlib
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from verification.errors import InputError

OU_RE = re.compile(r"^(ou-[0-9a-z]{4,32}-[0-9a-z]{8,32}|r-[0-9a-z]{4,32})$")
ROLE_NAME_RE = re.compile(r"^[\w+=,.@-]{1,64}$")
#: The role AWS Organizations creates in every new account: it is an administrator role.
ADMIN_ROLE = "OrganizationAccountAccessRole"
ADMIN_ROLE_WARNING = (
    f"the member role {ADMIN_ROLE} has AdministratorAccess: deploy a read-only member role (the verifier "
    "policy, trusted by the management account; see docs/organization.md) and name it with --member-role"
)

#: The requirement id an unreachable account's test is reported under (its role: the member role's ARN).
ACCOUNT_REQUIREMENT = "account:member-role"

Pages = Callable[[str, Mapping[str, Any]], Iterable[Mapping[str, Any]]]


@dataclass(frozen=True)
class Shard:
    """``--shard I/N``: this job verifies bucket I (1-based) of N."""

    index: int
    count: int

    @classmethod
    def parse(cls, value: str) -> Shard:
        match = re.fullmatch(r"(\d+)/(\d+)", value.strip())
        if not match or not 1 <= int(match[1]) <= int(match[2]):
            raise InputError(f"--shard {value!r} is not I/N with 1 <= I <= N, such as 1/4")
        return cls(int(match[1]), int(match[2]))

    def holds(self, account: str) -> bool:
        """Is ``account`` in this shard? A stable hash (sha256), the same in every job and Python."""
        return bucket(account, self.count) == self.index

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"


def bucket(account: str, count: int) -> int:
    """The 1-based shard of ``account`` among ``count``."""
    return int.from_bytes(hashlib.sha256(account.encode()).digest()[:8], "big") % count + 1


@dataclass(frozen=True)
class OrganizationSpec:
    """What to verify across the organization: the member role to assume and the role names to verify."""

    member_role: str
    role_names: tuple[str, ...]
    ous: tuple[str, ...] = ()
    skip_ous: tuple[str, ...] = ()
    skip_accounts: tuple[str, ...] = ()
    #: STS session length for member-role credentials (None: the role's default, one hour).
    session_duration: int | None = None

    def check(self, where: str = "--organization") -> None:
        """One line per fault, naming the option or key."""
        faults: list[str] = []
        if not ROLE_NAME_RE.match(self.member_role or ""):
            faults.append(f"{where}: the member role {self.member_role!r} is not a role name (--member-role NAME)")
        if not self.role_names:
            faults.append(f"{where}: name the roles to verify in each account with --role-name PATTERN (a glob)")
        for pattern in self.role_names:
            if not re.fullmatch(r"[\w+=,.@*?\[\]!-]{1,64}", pattern):
                faults.append(f"{where}: role name pattern {pattern!r} is not a role name or glob")
        for ou in (*self.ous, *self.skip_ous):
            if not OU_RE.match(ou):
                faults.append(f"{where}: {ou!r} is not an OU id (ou-xxxx-xxxxxxxx) or root id (r-xxxx)")
        for account in self.skip_accounts:
            if not re.fullmatch(r"\d{12}", account):
                faults.append(f"{where}: --skip-account {account!r} is not a 12-digit AWS account id")
        if self.session_duration is not None and not 900 <= self.session_duration <= 43200:
            faults.append(f"{where}: session_duration {self.session_duration} is not 900 to 43200 seconds")
        if faults:
            raise InputError("\n".join(faults))

    def matches(self, role_name: str) -> bool:
        """Does a role's name match one of the patterns (case-insensitively, as IAM names are)?"""
        name = role_name.lower()
        return any(fnmatch.fnmatchcase(name, pattern.lower()) for pattern in self.role_names)

    def member_role_arn(self, partition: str, account: str) -> str:
        return f"arn:{partition}:iam::{account}:role/{self.member_role}"


@dataclass(frozen=True)
class Account:
    """An ACTIVE account of the organization, where it sits, and how it is reached."""

    id: str
    name: str
    #: OU names from the root down, such as ``Root/Workloads/Prod``.
    ou_path: str
    #: The ids of the root and every OU above the account, root first.
    ou_ids: tuple[str, ...] = ()
    #: The caller's own account: verified with the caller's credentials, no member role.
    own: bool = False

    @property
    def label(self) -> str:
        """``name (id)``, as Allure's parent suite and the summaries show it."""
        return f"{self.name} ({self.id})" if self.name else f"account {self.id}"

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["ou_ids"] = list(self.ou_ids)
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Account:
        return cls(
            str(data["id"]), str(data["name"]), str(data["ou_path"]), tuple(data.get("ou_ids") or ()), bool(data["own"])
        )


@dataclass
class Organization:
    """What discovery found: the accounts kept for this run and the management account's id."""

    management: str
    accounts: list[Account]
    #: Accounts left out by --ou/--skip-ou/--skip-account, and those in other shards (counted for the header).
    left_out: int = 0
    other_shards: int = 0
    #: Per account id whose member role could not be assumed (or whose roles could not be listed): why.
    unreachable: dict[str, str] = field(default_factory=dict)


def walk(pages: Pages) -> tuple[str, list[Account], dict[str, str]]:
    """Every ACTIVE account under the root, with its OU path; also every OU id and its path."""
    roots = [root for page in pages("ListRoots", {}) for root in page.get("Roots", ())]
    if not roots:
        raise InputError("the organization has no root: are these the management account's credentials?")
    root = roots[0]
    root_id = str(root["Id"])
    ous: dict[str, str] = {root_id: str(root.get("Name") or "Root")}
    accounts: list[Account] = []
    queue: list[tuple[str, str, tuple[str, ...]]] = [(root_id, ous[root_id], (root_id,))]
    while queue:
        parent, path, chain = queue.pop(0)
        for page in pages("ListAccountsForParent", {"ParentId": parent}):
            for item in page.get("Accounts", ()):
                if _active(item):
                    accounts.append(Account(str(item["Id"]), str(item.get("Name") or ""), path, chain))
        for page in pages("ListOrganizationalUnitsForParent", {"ParentId": parent}):
            for unit in page.get("OrganizationalUnits", ()):
                unit_path = f"{path}/{unit.get('Name') or unit['Id']}"
                ous[str(unit["Id"])] = unit_path
                queue.append((str(unit["Id"]), unit_path, (*chain, str(unit["Id"]))))
    return root_id, sorted(accounts, key=lambda a: a.id), ous


def _active(item: Mapping[str, Any]) -> bool:
    """ACTIVE by ``State`` (the newer field) or else ``Status`` (deprecated by AWS in 2025)."""
    return str(item.get("State") or item.get("Status") or "") == "ACTIVE"


def discover(pages: Pages, spec: OrganizationSpec, caller_account: str, shard: Shard | None = None) -> Organization:
    """The organization's accounts that this run verifies, in account-id order."""
    described = [page for page in pages("DescribeOrganization", {})]
    management = str(((described[0] if described else {}).get("Organization") or {}).get("MasterAccountId") or "")
    _root, accounts, ous = walk(pages)
    unknown = [ou for ou in (*spec.ous, *spec.skip_ous) if ou not in ous]
    if unknown:
        raise InputError(
            f"--ou/--skip-ou {', '.join(unknown)}: not an OU of the organization (its OUs: "
            f"{', '.join(f'{i} {p}' for i, p in sorted(ous.items(), key=lambda item: item[1]))})"
        )
    known = {account.id for account in accounts}
    missing = [a for a in spec.skip_accounts if a not in known]
    if missing:
        raise InputError(f"--skip-account {', '.join(missing)}: not an ACTIVE account of the organization")
    kept: list[Account] = []
    left_out = other_shards = 0
    for account in accounts:
        if (
            (spec.ous and not set(spec.ous) & set(account.ou_ids))
            or set(spec.skip_ous) & set(account.ou_ids)
            or account.id in spec.skip_accounts
        ):
            left_out += 1
            continue
        if shard is not None and not shard.holds(account.id):
            other_shards += 1
            continue
        own = account.id == caller_account
        kept.append(Account(account.id, account.name, account.ou_path, account.ou_ids, own))
    return Organization(management, kept, left_out, other_shards)


def matching_roles(spec: OrganizationSpec, arns: Sequence[str]) -> list[str]:
    """The role ARNs whose names match a pattern, in the order listed."""
    return [arn for arn in arns if spec.matches(arn.rsplit("/", 1)[-1])]


BLOCK_KEYS = (
    "member_role",
    "role_name",
    "ou",
    "skip_ou",
    "skip_account",
    "session_duration",
    "appliance_principal",
    "requirements",
)


@dataclass(frozen=True)
class OrganizationBlock:
    """A targets file's ``organization:`` block: the spec, and what applies to every role found."""

    spec: OrganizationSpec
    appliance_principal: str | None = None
    requirements: str | None = None


def read_block(block: Any, where: str) -> OrganizationBlock:
    """Check an ``organization:`` block (the same as the command-line options); one line per fault.

    organization:
      member_role: RoleVerification
      role_name: ["VeeamWorker*", "VeeamFLR*"]
      ou: [ou-ab12-34cd56ef]
      skip_ou: []
      skip_account: ["111111111111"]
      session_duration: 3600
      appliance_principal: arn:aws:iam::333333333333:role/VeeamImpersonation
      requirements: veeam-flr-worker-prod
    """
    if not isinstance(block, Mapping):
        raise InputError(f"{where}: 'organization' must be a mapping of {', '.join(BLOCK_KEYS)}")
    faults = [
        f"{where}: organization: unknown key {key!r} (allowed: {', '.join(BLOCK_KEYS)})"
        for key in block
        if key not in BLOCK_KEYS
    ]

    def strings(key: str) -> tuple[str, ...]:
        value = block.get(key)
        if value is None:
            return ()
        values = [value] if isinstance(value, str | int) else value
        if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
            hint = "; quote account ids: YAML reads unquoted digits as a number" if key == "skip_account" else ""
            faults.append(f"{where}: organization: {key} must be a string or a list of strings{hint}")
            return ()
        return tuple(v.strip() for v in values)

    member = block.get("member_role")
    if not isinstance(member, str):
        faults.append(f"{where}: organization: member_role (the role to assume in each account) is required")
        member = ""
    duration = block.get("session_duration")
    if duration is not None and (not isinstance(duration, int) or isinstance(duration, bool)):
        faults.append(f"{where}: organization: session_duration must be a whole number of seconds")
        duration = None
    for key in ("appliance_principal", "requirements"):
        if key in block and not isinstance(block[key], str):
            faults.append(f"{where}: organization: {key} must be a string")
    spec = OrganizationSpec(
        member.strip(), strings("role_name"), strings("ou"), strings("skip_ou"), strings("skip_account"), duration
    )
    if faults:
        raise InputError("\n".join(faults))
    spec.check(f"{where}: organization")
    appliance = block.get("appliance_principal")
    requirements = block.get("requirements")
    return OrganizationBlock(spec, appliance, requirements)
