"""An AWS Organization on the local endpoint: OUs, member accounts, a member role and worker roles in each.

moto's Organizations creates the organization, its OUs and accounts (with their random ids, as AWS
gives them); each account's roles are seeded from an account snapshot whose ARNs are rewritten to
the account's id (``seed_account``). moto lets anyone assume any role, even one that does not exist;
AWS does not. ``guard_assume_role`` makes the endpoint answer AccessDenied, as AWS would, when the
role to assume in an organization's seeded account does not exist or its trust policy does not name
the caller's account: so an account without the member role is really unassumable here too.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import boto3
from moto.core.exceptions import ServiceException
from moto.iam.models import iam_backends
from moto.sts.responses import TokenResponse

from verification.endpoint.seed import DEFAULT_ACCOUNT, SeedError, seed_account

__all__ = ["SeededOrganization", "guard_assume_role", "seed_organization"]

#: Accounts whose roles must exist (and trust the caller's account) to be assumed.
GUARDED: set[str] = set()
_ORIGINAL_ASSUME_ROLE = TokenResponse.assume_role


class _AccessDenied(ServiceException):
    code = "AccessDenied"


def _guarded_assume_role(self: TokenResponse) -> Any:
    """AssumeRole as AWS answers it for a guarded account: the role must exist and trust the caller's account."""
    role_arn = str(self._get_param("RoleArn") or "")
    parts = role_arn.split(":")
    if len(parts) == 6 and parts[4] in GUARDED:
        account, name = parts[4], parts[5].rsplit("/", 1)[-1]
        # AWS answers AccessDenied, which STS's service model does not list among its errors: moto warns.
        warnings.filterwarnings("ignore", message=r"Exception\(_AccessDenied\)", category=UserWarning)
        caller = self.current_account
        denied = _AccessDenied(
            f"an identity of account {caller} is not authorized to perform: sts:AssumeRole on resource: {role_arn}"
        )
        try:
            role = iam_backends[account]["global"].get_role(name)
        except Exception:  # moto's NoSuchEntity: AWS says AccessDenied, never "no such role"
            raise denied from None
        if caller != account and caller not in str(role.assume_role_policy_document):
            raise denied
    return _ORIGINAL_ASSUME_ROLE(self)


def guard_assume_role() -> None:
    """Install the guard on moto's STS (idempotent; this process only)."""
    TokenResponse.assume_role = _guarded_assume_role  # type: ignore[method-assign]


@dataclass
class SeededOrganization:
    """What was made: the management account, the OU ids by path, the accounts by name."""

    management: str
    root: str
    ous: dict[str, str] = field(default_factory=dict)
    accounts: dict[str, str] = field(default_factory=dict)
    member_role: str = ""
    #: Account names seeded without the member role (so unassumable).
    unassumable: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "management": self.management,
            "root": self.root,
            "ous": self.ous,
            "accounts": self.accounts,
            "member_role": self.member_role,
            "unassumable": self.unassumable,
        }


def _client(url: str, service: str, credentials: Mapping[str, str] | None = None) -> Any:
    keys = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}
    if credentials:
        keys = {
            "aws_access_key_id": credentials["AccessKeyId"],
            "aws_secret_access_key": credentials["SecretAccessKey"],
            "aws_session_token": credentials["SessionToken"],
        }
    return boto3.client(service, endpoint_url=url, region_name="us-east-1", **keys)  # type: ignore[call-overload]


def _rewrite(details: Mapping[str, Any], account: str, shared: Sequence[str] = (), home: str = "") -> dict[str, Any]:
    """The snapshot's entities as they would be in ``account`` (every ARN and principal naming the source).

    Roles named in ``shared`` live in the ``home`` account only (the management account), and ARNs
    naming them point there: the appliance's one Impersonation role, which every account's workers trust.
    """
    source = next(
        (str(r["Arn"]).split(":")[4] for r in details.get("RoleDetailList") or () if "Arn" in r), DEFAULT_ACCOUNT
    )
    home = home or account
    kept = {f"arn:aws:iam::{source}:role/{name}" for name in shared}
    roles = [r for r in details.get("RoleDetailList") or () if account == home or r.get("Arn") not in kept]
    text = json.dumps({**details, "RoleDetailList": roles})
    for number, arn in enumerate(sorted(kept)):
        text = text.replace(arn, f"@shared{number}@")
    text = text.replace(f":{source}:", f":{account}:")
    for number, arn in enumerate(sorted(kept)):
        text = text.replace(f"@shared{number}@", arn.replace(f":{source}:", f":{home}:"))
    return dict(json.loads(text))


def _member_role(url: str, account: str, name: str, management: str, policy: Mapping[str, Any]) -> None:
    """The read-only member role: the verifier policy, trusted by the management account."""
    credentials = _client(url, "sts").assume_role(
        RoleArn=f"arn:aws:iam::{account}:role/OrganizationAccountAccessRole", RoleSessionName="seed"
    )["Credentials"]
    iam = _client(url, "iam", credentials)
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{management}:root"}, "Action": "sts:AssumeRole"}
        ],
    }
    iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust))
    iam.put_role_policy(RoleName=name, PolicyName="verifier", PolicyDocument=json.dumps(policy))


def seed_organization(
    url: str,
    layout: Mapping[str, Any],
    details: Mapping[str, Any],
    verifier_policy: Mapping[str, Any],
    credentials: Mapping[str, str] | None = None,
) -> SeededOrganization:
    """Create the organization ``layout`` describes, from the management account.

    The management account is the one ``credentials`` (an STS Credentials mapping) are of; moto's
    default account (the dummy ``testing`` keys') when None.

    ``layout``: ``member_role``; ``ous``, OU paths such as ``Workloads/Prod`` (parents first);
    ``accounts``, each ``{name, ou, member_role: true|false, roles: true|false}``; ``management_roles``
    (seed the snapshot's roles in the management account too); ``shared_roles``, role names that
    exist only in the management account (the snapshot's own). ``details`` is the snapshot seeded
    in each account with ``roles`` true.
    """
    try:
        return _seed_organization(url, layout, details, verifier_policy, credentials)
    except (KeyError, TypeError) as error:
        raise SeedError(f"organization layout: missing or wrong field {error}") from None


def _seed_organization(
    url: str,
    layout: Mapping[str, Any],
    details: Mapping[str, Any],
    verifier_policy: Mapping[str, Any],
    credentials: Mapping[str, str] | None,
) -> SeededOrganization:
    org = _client(url, "organizations", credentials)
    org.create_organization(FeatureSet="ALL")
    management = org.describe_organization()["Organization"]["MasterAccountId"]
    root = org.list_roots()["Roots"][0]["Id"]
    member_role = str(layout["member_role"])
    seeded = SeededOrganization(management, root, member_role=member_role)
    ous: Sequence[str] = layout.get("ous") or ()
    for path in ous:
        parent_path, _, name = path.rpartition("/")
        parent = seeded.ous[parent_path] if parent_path else root
        seeded.ous[path] = org.create_organizational_unit(ParentId=parent, Name=name)["OrganizationalUnit"]["Id"]
    for entry in layout.get("accounts") or ():
        name = str(entry["name"])
        status = org.create_account(AccountName=name, Email=f"{name}@example.com")["CreateAccountStatus"]
        account = str(status["AccountId"])
        seeded.accounts[name] = account
        if entry.get("ou"):
            org.move_account(AccountId=account, SourceParentId=root, DestinationParentId=seeded.ous[entry["ou"]])
        if entry.get("roles", True):
            seed_account(url, _rewrite(details, account, layout.get("shared_roles") or (), management))
        if entry.get("member_role", True):
            _member_role(url, account, member_role, management, verifier_policy)
        else:
            seeded.unassumable.append(name)
    if layout.get("management_roles"):
        seed_account(url, _rewrite(details, management, layout.get("shared_roles") or (), management))
    GUARDED.update(seeded.accounts.values())
    guard_assume_role()
    return seeded
