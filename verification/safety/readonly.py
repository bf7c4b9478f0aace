"""Read-only, enforced: a botocore hook refuses any operation not on the allowlist, before it is sent.

The harness runs with credentials in production accounts; it must be unable to change anything,
whatever a future code path or a typo asks for.
"""

from __future__ import annotations

import re
from typing import Any

#: Operations the harness may call, per service (botocore's service id, lower-cased).
ALLOWED: dict[str, re.Pattern[str]] = {
    "iam": re.compile(
        r"^(Get[A-Za-z]*|List[A-Za-z]*|Simulate(Principal|Custom)Policy|GetContextKeysFor[A-Za-z]*"
        r"|GetAccountAuthorizationDetails)$"
    ),
    "sts": re.compile(r"^(GetCallerIdentity|AssumeRole)$"),
    # What snapshot export reads to find the SCPs that apply to the account, and what --organization
    # reads to find the accounts (the tree from the root down).
    "organizations": re.compile(
        r"^(DescribeOrganization|ListParents|ListPoliciesForTarget|DescribePolicy|ListRoots"
        r"|ListAccountsForParent|ListOrganizationalUnitsForParent)$"
    ),
    # --kms-key: the key's policy, so the engine can decide the kms: requirements against it.
    "kms": re.compile(r"^GetKeyPolicy$"),
}


class ReadOnlyViolation(RuntimeError):
    """An operation outside the allowlist was about to be sent."""


def is_allowed(service: str, operation: str) -> bool:
    """Is ``operation`` of ``service`` on the read-only allowlist?"""
    pattern = ALLOWED.get(service.lower())
    return bool(pattern and pattern.fullmatch(operation))


def install(client: Any) -> Any:
    """Register the guard on a boto3 client (before any parameter is built or request sent)."""
    service = client.meta.service_model.service_id.hyphenize()

    def refuse(model: Any, **_: Any) -> None:
        if not is_allowed(service, model.name):
            raise ReadOnlyViolation(f"refused {service}:{model.name}: the harness is read-only and never calls it")

    client.meta.events.register_first(f"before-parameter-build.{service}", refuse)
    return client


def client(session: Any, service: str, **kwargs: Any) -> Any:
    """A boto3 client with the read-only guard installed: the only way the harness makes clients."""
    return install(session.client(service, **kwargs))
