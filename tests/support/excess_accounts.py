"""Roles for the excess tests, made from the FLR worker page: exact, with AdministratorAccess, and the like.

One account, shaped as GetAccountAuthorizationDetails returns it, used offline (a snapshot) and
seeded into the local endpoint (live).
"""

from __future__ import annotations

from typing import Any

from tests.support.snapshot_builders import ACCOUNT, allow, details, managed, role
from verification.requirements import load_requirement_set

FLR = load_requirement_set("veeam-flr-worker-prod")
ADMIN_ARN = "arn:aws:iam::aws:policy/AdministratorAccess"
ADMIN_DOCUMENT = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
#: name -> (inline policies, attached managed policy names, boundary name, AdministratorAccess attached)
ROLES: dict[str, tuple[dict[str, Any], tuple[str, ...], str | None, bool]] = {
    "Exact": ({"page": allow(*FLR.actions)}, (), None, False),
    "Admin": ({"page": allow(*FLR.actions)}, (), None, True),
    "AdminBounded": ({}, (), "Documented", True),
    "AdminNoIam": ({"page": allow(*FLR.actions), "no-iam": allow("iam:*", effect="Deny")}, (), None, True),
    "ExtraGetObject": (
        {"page": allow(*FLR.actions), "extra": allow("s3:GetObject", resource="arn:aws:s3:::backups-bucket/*")},
        (),
        None,
        False,
    ),
    "ExtraPutRolePolicy": ({"page": allow(*FLR.actions), "extra": allow("iam:PutRolePolicy")}, (), None, False),
}


def admin_policy() -> dict[str, Any]:
    """AdministratorAccess as GAAD lists an AWS managed policy."""
    return {
        "PolicyName": "AdministratorAccess",
        "PolicyId": "ANPAIWMBCKSKIEE64ZLYK",
        "Arn": ADMIN_ARN,
        "Path": "/",
        "DefaultVersionId": "v1",
        "AttachmentCount": 1,
        "IsAttachable": True,
        "PolicyVersionList": [{"Document": ADMIN_DOCUMENT, "VersionId": "v1", "IsDefaultVersion": True}],
    }


def role_arn(name: str) -> str:
    return f"arn:aws:iam::{ACCOUNT}:role/{name}"


def account() -> dict[str, Any]:
    """Every role above, with the managed policies they use."""
    roles = []
    for name, (inline, attached, boundary, admin) in ROLES.items():
        entry = role(name, inline=inline, attached=attached, boundary=boundary, profiles=[name])
        if admin:
            entry["AttachedManagedPolicies"].append({"PolicyName": "AdministratorAccess", "PolicyArn": ADMIN_ARN})
        roles.append(entry)
    return details(roles, [managed("Documented", allow(*FLR.actions)), admin_policy()])
