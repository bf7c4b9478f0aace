"""IAM's policy size quotas, per policy type, checked on policies read from files (snapshots).

AWS refuses to store a policy over these sizes, so a snapshot holding one was not exported from a
real account (hand-edited, or corrupted): verifying against it could pass a role AWS never had.
IAM does not count white space. The quotas bind what customers write: customer managed policies
(attached or used as a boundary), a role's inline policies together, and its trust policy. AWS
managed policies (``arn:aws:iam::aws:policy/...``) have none: ReadOnlyAccess alone is over 80,000
characters. Source: https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_iam-quotas.html
"""

from __future__ import annotations

import json
import urllib.parse
from collections.abc import Iterable, Mapping
from typing import Any

#: All inline policies of one role, together.
ROLE_INLINE_TOTAL = 10_240
#: One customer managed policy (attached, or used as a permissions boundary). AWS managed: no quota.
CUSTOMER_MANAGED_POLICY = 6_144
#: A role's trust policy: 2,048 by default (``AssumeRolePolicySizeQuota``), raisable to at most 4,096.
TRUST_POLICY_DEFAULT = 2_048
TRUST_POLICY_MAX = 4_096


class PolicySizeError(ValueError):
    """A policy is larger than IAM allows: one line naming the policy, its size and the quota."""


def policy_size(document: Any) -> int:
    """Characters of a policy document as IAM counts them: its JSON text without white space.

    ``document`` is JSON text, URL-encoded JSON text (as the API returns it) or a decoded mapping.
    """
    if isinstance(document, str):
        text = document
        try:
            json.loads(text)
        except ValueError:
            text = urllib.parse.unquote(text)
    else:
        text = json.dumps(document, ensure_ascii=False, separators=(",", ":"))
    return sum(1 for char in text if not char.isspace())


def check_size(size: int, limit: int, what: str) -> None:
    """Raise PolicySizeError when ``size`` exceeds ``limit``."""
    if size > limit:
        raise PolicySizeError(
            f"{what} is {size:,} characters (white space not counted), over IAM's limit of {limit:,}: "
            "AWS would not have accepted it, so this is not an account's real policy"
        )


def check_role_policies(
    role_name: str,
    inline: Iterable[tuple[str, Any]],
    managed: Mapping[str, Any],
    trust: Any = None,
) -> None:
    """Check one role's policies against the quotas of their types.

    ``inline`` is (name, document) pairs; ``managed`` maps policy ARN → default version document
    (attached policies and the boundary); ``trust`` is the trust policy document, if any. A trust
    policy is held to the largest quota an account can be granted (4,096), since the snapshot does
    not say whether this account's was raised.
    """
    total = sum(policy_size(document) for _, document in inline)
    check_size(total, ROLE_INLINE_TOTAL, f"the inline policies of role {role_name} together")
    for arn, document in managed.items():
        if not is_aws_managed(arn):
            check_size(policy_size(document), CUSTOMER_MANAGED_POLICY, f"customer managed policy {arn}")
    if trust is not None:
        check_size(policy_size(trust), TRUST_POLICY_MAX, f"the trust policy of role {role_name}")


def is_aws_managed(arn: str) -> bool:
    """An AWS managed policy (``arn:<partition>:iam::aws:policy/...``): written by AWS, no size quota."""
    parts = arn.split(":")
    return len(parts) >= 6 and parts[2] == "iam" and parts[4] == "aws" and parts[5].startswith("policy/")


def check_account_role(account: Any, role_arn: str) -> None:
    """Check a role of a ``verification.policy.account.Account`` (duck-typed, to keep this module light)."""
    info = account.role(role_arn)
    arns = [*info.attached, *([info.boundary_arn] if info.boundary_arn else [])]
    managed = {arn: account.managed_document(arn, used_by=f"attached to {info.name}") for arn in arns}
    check_role_policies(info.name, info.inline, managed, info.raw.get("AssumeRolePolicyDocument"))
