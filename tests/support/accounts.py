"""One account of tagged roles, seeded into a local endpoint and saved as a snapshot, for live and offline runs.

The field-review tests (tests/system/review: real requests, sessions, request scope) each judge a
table of roles, one inline policy and tags each, live (the local endpoint over HTTP), in fleet mode
and offline (the same roles as a snapshot). The roles' shape and the seeding are written once here.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3

from tests.support.snapshot_builders import details
from verification.endpoint import Endpoint, start_endpoint
from verification.endpoint.seed import seed_account


def tagged_role(
    account: str,
    name: str,
    role_id: str,
    trust: Mapping[str, Any],
    policy: Mapping[str, Any],
    tags: Mapping[str, str],
    *,
    policy_name: str = "work",
) -> dict[str, Any]:
    """A ``RoleDetailList`` entry: one inline policy, its tags, no attachment and no instance profile."""
    return {
        "Path": "/",
        "RoleName": name,
        "RoleId": role_id,
        "Arn": f"arn:aws:iam::{account}:role/{name}",
        "CreateDate": "2026-01-01T00:00:00Z",
        "AssumeRolePolicyDocument": trust,
        "RolePolicyList": [{"PolicyName": policy_name, "PolicyDocument": policy}],
        "AttachedManagedPolicies": [],
        "InstanceProfileList": [],
        "Tags": [{"Key": k, "Value": v} for k, v in tags.items()],
    }


def tagged_roles(account: str, id_prefix: str, roles: Mapping[str, tuple[Any, ...]], **kwargs: Any) -> dict[str, Any]:
    """The authorization details of ``roles`` (name to trust, policy, tags), role ids ``id_prefix`` + a number.

    ``id_prefix`` pads the number to the 21 characters of a role id, so each table's ids stay as they were.
    """
    width = 21 - len(id_prefix)
    return details(
        [
            tagged_role(account, name, f"{id_prefix}{number:0{width}d}", trust, policy, tags, **kwargs)
            for number, (name, (trust, policy, tags)) in enumerate(roles.items())
        ]
    )


@dataclass
class Account:
    """The seeded endpoint's URL, and the same account as a snapshot file."""

    url: str
    snapshot: Path


@contextmanager
def seeded_account(document: Mapping[str, Any], snapshot: Path) -> Iterator[Account]:
    """A local endpoint seeded with ``document``, which is also written to ``snapshot``."""
    snapshot.write_text(json.dumps(document))
    with start_endpoint() as endpoint:
        seed_account(endpoint.url, document)
        yield Account(endpoint.url, snapshot)


#: The lists of an authorization-details document whose entries name their account in ``Arn``.
DETAIL_LISTS = ("UserDetailList", "GroupDetailList", "RoleDetailList", "Policies")


def accounts_of(document: Mapping[str, Any]) -> set[str]:
    """The accounts whose entities ``document`` holds (AWS-managed policies, account ``aws``, aside)."""
    named = {entry["Arn"].split(":")[4] for key in DETAIL_LISTS for entry in document.get(key, ())}
    return {account for account in named if account.isdigit()}


@contextmanager
def fresh_accounts(document: Mapping[str, Any]) -> Iterator[Endpoint]:
    """A local endpoint seeded with ``document``; after it, the IAM state of those accounts only is forgotten.

    moto's state is per process and the session's other endpoints share it (the five accounts of
    ``fleet``, say): moto's own reset would forget theirs too, and their later tests would find no
    role. Each account ``document`` names gets a fresh IAM (its AWS-managed policies loaded again).
    """
    from moto.iam.models import iam_backends

    try:
        with start_endpoint(0, seed=document) as endpoint:
            yield endpoint
    finally:  # a seeding that failed halfway is forgotten too: the next one starts clean
        for account in accounts_of(document):
            for partition in iam_backends[account].values():
                partition.reset()


def plain_session(region: str = "us-east-1") -> boto3.Session:
    """A session with moto's plain test credentials: the endpoint's default account."""
    return boto3.Session(aws_access_key_id="testing", aws_secret_access_key="testing", region_name=region)
