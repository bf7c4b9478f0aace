"""Recreate an account snapshot (``aws iam get-account-authorization-details``) in the local endpoint.

Everything goes over HTTP with boto3, so moto's own validation applies to what is seeded. Each
entity lands in the account its ARN names: moto maps credentials from ``sts:AssumeRole`` into
``arn:aws:iam::<account>:role/...`` to that account.
"""

from __future__ import annotations

import json
import urllib.parse
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError

if TYPE_CHECKING:
    from mypy_boto3_iam import IAMClient

__all__ = ["SeedError", "seed_account"]

#: moto's account for requests signed with plain test credentials.
DEFAULT_ACCOUNT = "123456789012"


class SeedError(ValueError):
    """The snapshot could not be recreated; the message names the entity and the fault."""


def policy_text(document: Any) -> str:
    """A policy document as JSON text: snapshots hold dicts, JSON text or URL-encoded JSON text.

    Dicts are written indented as parse_policy renders them, so statement line numbers in answers
    match those a snapshot run reports and point at readable lines.
    """
    if isinstance(document, Mapping):
        return json.dumps(document, indent=4)
    if isinstance(document, str):
        return document if document.lstrip().startswith("{") else urllib.parse.unquote(document)
    raise SeedError(f"a policy document is a {type(document).__name__}, not a JSON object or string")


def _account_of(arn: str) -> str:
    parts = arn.split(":")
    if len(parts) < 6 or parts[0] != "arn" or not parts[4].isdigit():
        raise SeedError(f"{arn!r} is not an IAM ARN with an account id")
    return parts[4]


def _is_aws_managed(arn: str) -> bool:
    return arn.split(":")[4:5] == ["aws"]


def _tags(entity: Mapping[str, Any]) -> dict[str, Any]:
    return {"Tags": list(entity["Tags"])} if entity.get("Tags") else {}


class _Clients:
    """One IAM client per account, reached by assuming a role in it (moto accepts any role name)."""

    def __init__(self, endpoint_url: str) -> None:
        self._url = endpoint_url
        self._clients: dict[str, IAMClient] = {}

    def __call__(self, account: str) -> IAMClient:
        if account not in self._clients:
            key, secret, token = "testing", "testing", None
            if account != DEFAULT_ACCOUNT:
                sts = boto3.client(
                    "sts",
                    endpoint_url=self._url,
                    region_name="us-east-1",
                    aws_access_key_id=key,
                    aws_secret_access_key=secret,
                )
                assumed = sts.assume_role(RoleArn=f"arn:aws:iam::{account}:role/Seed", RoleSessionName="seed")
                creds = assumed["Credentials"]
                key, secret, token = creds["AccessKeyId"], creds["SecretAccessKey"], creds["SessionToken"]
            self._clients[account] = boto3.client(
                "iam",
                endpoint_url=self._url,
                region_name="us-east-1",
                aws_access_key_id=key,
                aws_secret_access_key=secret,
                aws_session_token=token,
            )
        return self._clients[account]


def _seed_policy(iam: IAMClient, policy: Mapping[str, Any]) -> None:
    default = policy.get("DefaultVersionId")
    versions: Sequence[Mapping[str, Any]] = policy.get("PolicyVersionList") or []
    chosen = next(
        (v for v in versions if v.get("IsDefaultVersion") or v.get("VersionId") == default),
        None,
    )
    if chosen is None:
        raise SeedError("it has no default version in PolicyVersionList")
    extra = {"Description": policy["Description"]} if policy.get("Description") else {}
    iam.create_policy(
        PolicyName=policy["PolicyName"],
        Path=policy.get("Path", "/"),
        PolicyDocument=policy_text(chosen["Document"]),
        **extra,
        **_tags(policy),
    )


def _seed_group(iam: IAMClient, group: Mapping[str, Any]) -> None:
    name = group["GroupName"]
    iam.create_group(GroupName=name, Path=group.get("Path", "/"))
    for inline in group.get("GroupPolicyList") or []:
        iam.put_group_policy(
            GroupName=name, PolicyName=inline["PolicyName"], PolicyDocument=policy_text(inline["PolicyDocument"])
        )
    for attached in group.get("AttachedManagedPolicies") or []:
        iam.attach_group_policy(GroupName=name, PolicyArn=attached["PolicyArn"])


def _seed_user(iam: IAMClient, user: Mapping[str, Any]) -> None:
    name = user["UserName"]
    boundary = (user.get("PermissionsBoundary") or {}).get("PermissionsBoundaryArn")
    iam.create_user(UserName=name, Path=user.get("Path", "/"), **_tags(user))
    if boundary:
        iam.put_user_permissions_boundary(UserName=name, PermissionsBoundary=boundary)
    for inline in user.get("UserPolicyList") or []:
        iam.put_user_policy(
            UserName=name, PolicyName=inline["PolicyName"], PolicyDocument=policy_text(inline["PolicyDocument"])
        )
    for attached in user.get("AttachedManagedPolicies") or []:
        iam.attach_user_policy(UserName=name, PolicyArn=attached["PolicyArn"])
    for group_name in user.get("GroupList") or []:
        iam.add_user_to_group(UserName=name, GroupName=group_name)


def _seed_role(iam: IAMClient, role: Mapping[str, Any], profiles_done: set[str]) -> None:
    name = role["RoleName"]
    extra: dict[str, Any] = {}
    if role.get("Description"):
        extra["Description"] = role["Description"]
    if role.get("MaxSessionDuration"):
        extra["MaxSessionDuration"] = int(role["MaxSessionDuration"])
    boundary = (role.get("PermissionsBoundary") or {}).get("PermissionsBoundaryArn")
    if boundary:
        extra["PermissionsBoundary"] = boundary
    iam.create_role(
        RoleName=name,
        Path=role.get("Path", "/"),
        AssumeRolePolicyDocument=policy_text(role["AssumeRolePolicyDocument"]),
        **extra,
        **_tags(role),
    )
    for inline in role.get("RolePolicyList") or []:
        iam.put_role_policy(
            RoleName=name, PolicyName=inline["PolicyName"], PolicyDocument=policy_text(inline["PolicyDocument"])
        )
    for attached in role.get("AttachedManagedPolicies") or []:
        iam.attach_role_policy(RoleName=name, PolicyArn=attached["PolicyArn"])
    for profile in role.get("InstanceProfileList") or []:
        profile_name = profile["InstanceProfileName"]
        if profile["Arn"] not in profiles_done:
            iam.create_instance_profile(
                InstanceProfileName=profile_name, Path=profile.get("Path", "/"), **_tags(profile)
            )
            profiles_done.add(profile["Arn"])
        iam.add_role_to_instance_profile(InstanceProfileName=profile_name, RoleName=name)


def _each(
    details: Mapping[str, Any],
    key: str,
    name_key: str,
    clients: _Clients,
    seed_one: Callable[[IAMClient, Mapping[str, Any]], None],
) -> None:
    entries = details.get(key) or []
    if not isinstance(entries, list):
        raise SeedError(f"{key} is a {type(entries).__name__}, not a list")
    for entry in entries:
        label = f"{key} entry {entry.get(name_key, '?')!r}" if isinstance(entry, Mapping) else f"{key} entry"
        try:
            if not isinstance(entry, Mapping):
                raise SeedError("it is not an object")
            if _is_aws_managed(entry["Arn"]):
                continue  # exists in every account already; only attached
            seed_one(clients(_account_of(entry["Arn"])), entry)
        except SeedError as error:
            raise SeedError(f"{label}: {error}") from None
        except KeyError as error:
            raise SeedError(f"{label}: missing field {error.args[0]!r}") from None
        except ClientError as error:
            err = error.response.get("Error", {})
            raise SeedError(f"{label}: {err.get('Code')}: {err.get('Message')}") from None
        except (BotoCoreError, TypeError, ValueError) as error:
            raise SeedError(f"{label}: {error}") from None


def seed_account(endpoint_url: str, details: Mapping[str, Any]) -> None:
    """Create everything ``details`` (a merged authorization-details document) holds.

    Order matters: customer-managed policies first, then groups, users (who join groups) and roles
    with their inline policies, attachments, boundaries and instance profiles. AWS-managed policies
    are attached, never created. Raises ``SeedError`` naming the first entity that failed.
    """
    if not isinstance(details, Mapping):
        raise SeedError(f"the snapshot is a {type(details).__name__}, not an authorization-details object")
    clients = _Clients(endpoint_url)
    profiles_done: set[str] = set()
    _each(details, "Policies", "PolicyName", clients, _seed_policy)
    _each(details, "GroupDetailList", "GroupName", clients, _seed_group)
    _each(details, "UserDetailList", "UserName", clients, _seed_user)
    _each(
        details,
        "RoleDetailList",
        "RoleName",
        clients,
        lambda iam, role: _seed_role(iam, role, profiles_done),
    )
