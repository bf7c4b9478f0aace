"""Small authorization-details documents for the snapshot tests, shaped as AWS returns them."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

ACCOUNT = "123456789012"
EC2_TRUST: dict[str, Any] = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}],
}


def allow(*actions: str, resource: str = "*", effect: str = "Allow", **extra: Any) -> dict[str, Any]:
    """A one-statement identity policy document."""
    statement: dict[str, Any] = {"Effect": effect, "Action": list(actions), "Resource": resource, **extra}
    return {"Version": "2012-10-17", "Statement": [statement]}


def policy_arn(name: str) -> str:
    return f"arn:aws:iam::{ACCOUNT}:policy/{name}"


def role_arn(name: str) -> str:
    return f"arn:aws:iam::{ACCOUNT}:role/{name}"


def managed(name: str, *versions: Any, default: int = 1) -> dict[str, Any]:
    """A customer managed policy; ``versions`` are documents v1, v2, ...; ``default`` is 1-based."""
    return {
        "PolicyName": name,
        "PolicyId": f"ANPA{name.upper():0<17}"[:21],
        "Arn": policy_arn(name),
        "Path": "/",
        "DefaultVersionId": f"v{default}",
        "AttachmentCount": 1,
        "IsAttachable": True,
        "PolicyVersionList": [
            {"Document": document, "VersionId": f"v{number}", "IsDefaultVersion": number == default}
            for number, document in enumerate(versions, start=1)
        ],
    }


def role(
    name: str,
    *,
    inline: Mapping[str, Any] | None = None,
    attached: Sequence[str] = (),
    boundary: str | None = None,
    trust: Mapping[str, Any] | None = None,
    profiles: Sequence[str] = (),
) -> dict[str, Any]:
    """One ``RoleDetailList`` entry; ``attached`` and ``boundary`` are managed policy names."""
    arn = role_arn(name)
    entry: dict[str, Any] = {
        "Path": "/",
        "RoleName": name,
        "RoleId": f"AROA{name.upper():0<17}"[:21],
        "Arn": arn,
        "AssumeRolePolicyDocument": dict(trust or EC2_TRUST),
        "InstanceProfileList": [
            {
                "Path": "/",
                "InstanceProfileName": profile,
                "InstanceProfileId": f"AIPA{profile.upper():0<17}"[:21],
                "Arn": f"arn:aws:iam::{ACCOUNT}:instance-profile/{profile}",
                "Roles": [{"RoleName": name, "Arn": arn, "Path": "/", "RoleId": "AROAEXAMPLE"}],
            }
            for profile in profiles
        ],
        "RolePolicyList": [{"PolicyName": k, "PolicyDocument": v} for k, v in (inline or {}).items()],
        "AttachedManagedPolicies": [{"PolicyName": p, "PolicyArn": policy_arn(p)} for p in attached],
        "Tags": [],
    }
    if boundary is not None:
        entry["PermissionsBoundary"] = {
            "PermissionsBoundaryType": "Policy",
            "PermissionsBoundaryArn": policy_arn(boundary),
        }
    return entry


def details(roles: Sequence[Mapping[str, Any]], policies: Sequence[Mapping[str, Any]] = ()) -> dict[str, Any]:
    """The merged document the AWS CLI writes."""
    return {"UserDetailList": [], "GroupDetailList": [], "RoleDetailList": list(roles), "Policies": list(policies)}
