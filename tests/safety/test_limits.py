"""IAM's size quotas apply per policy type, and not at all to AWS managed policies."""

from __future__ import annotations

import pytest

from verification.safety.limits import (
    CUSTOMER_MANAGED_POLICY,
    ROLE_INLINE_TOTAL,
    TRUST_POLICY_MAX,
    PolicySizeError,
    check_role_policies,
    is_aws_managed,
)


def document(characters: int) -> str:
    """A policy document of exactly ``characters`` characters as IAM counts them."""
    head = '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"'
    tail = '"}]}'
    return head + "x" * (characters - len(head) - len(tail)) + tail


def test_a_customer_managed_policy_is_held_to_6144() -> None:
    arn = "arn:aws:iam::123456789012:policy/Big"
    check_role_policies("r", [], {arn: document(CUSTOMER_MANAGED_POLICY)})
    with pytest.raises(PolicySizeError, match=r"customer managed policy .* over IAM's limit of 6,144"):
        check_role_policies("r", [], {arn: document(CUSTOMER_MANAGED_POLICY + 1)})


@pytest.mark.parametrize("partition", ["aws", "aws-cn", "aws-us-gov"])
def test_an_aws_managed_policy_has_no_quota(partition: str) -> None:
    arn = f"arn:{partition}:iam::aws:policy/ReadOnlyAccess"
    assert is_aws_managed(arn)
    check_role_policies("r", [], {arn: document(95_000)})


def test_inline_policies_count_together_to_10240() -> None:
    half = ROLE_INLINE_TOTAL // 2
    check_role_policies("r", [("a", document(half)), ("b", document(half))], {})
    with pytest.raises(PolicySizeError, match="inline policies of role r together"):
        check_role_policies("r", [("a", document(half)), ("b", document(half + 1))], {})


def test_a_trust_policy_is_held_to_the_largest_quota_an_account_can_have() -> None:
    check_role_policies("r", [], {}, document(TRUST_POLICY_MAX))
    with pytest.raises(PolicySizeError, match=r"trust policy of role r .* 4,096"):
        check_role_policies("r", [], {}, document(TRUST_POLICY_MAX + 1))


def test_a_policy_that_only_looks_aws_managed_is_still_held_to_the_quota() -> None:
    assert not is_aws_managed("arn:aws:iam::123456789012:policy/aws/ReadOnlyAccess")
