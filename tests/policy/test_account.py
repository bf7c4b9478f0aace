"""The account model: which policies are in force for a role, and how they are named."""

from __future__ import annotations

import json
import urllib.parse

import pytest

from tests.support.snapshot_builders import allow, details, managed, policy_arn, role, role_arn
from verification.policy import Principal, evaluate_trust, simulate
from verification.policy.account import Account, AccountError


def decisions(
    account: Account, name: str, *actions: str, scps: list[list[dict[str, object]]] | None = None
) -> list[str]:
    policies = account.policy_set_for(role_arn(name), scps or [])
    return [e.decision for e in simulate(policies, actions)]


def test_only_the_default_version_of_a_managed_policy_is_in_force() -> None:
    old, current = allow("s3:GetObject"), allow("ec2:AttachVolume")
    account = Account(details([role("R", attached=["P"])], [managed("P", old, current, default=2)]))
    assert decisions(account, "R", "ec2:AttachVolume", "s3:GetObject") == ["allowed", "implicitDeny"]


def test_inline_attached_and_boundary_are_combined() -> None:
    account = Account(
        details(
            [role("R", inline={"inl": allow("kms:Decrypt")}, attached=["P"], boundary="B")],
            [managed("P", allow("ec2:*")), managed("B", allow("ec2:*", "s3:*"))],
        )
    )
    assert decisions(account, "R", "ec2:AttachVolume", "kms:Decrypt", "s3:GetObject") == [
        "allowed",
        "implicitDeny",  # the boundary does not allow kms
        "implicitDeny",  # the boundary allows s3, but no identity policy does
    ]


def test_url_encoded_documents_from_the_raw_api_read_the_same() -> None:
    def encoded(document: object) -> str:
        return urllib.parse.quote(json.dumps(document))

    plain = role("R", inline={"inl": allow("kms:Decrypt", effect="Deny")}, attached=["P"])
    raw = {**plain, "AssumeRolePolicyDocument": encoded(plain["AssumeRolePolicyDocument"])}
    raw["RolePolicyList"] = [{"PolicyName": "inl", "PolicyDocument": encoded(allow("kms:Decrypt", effect="Deny"))}]
    policy = managed("P", encoded(allow("kms:*", "ec2:*")))
    account = Account(details([raw], [policy]))
    assert decisions(account, "R", "ec2:RunInstances", "kms:Decrypt") == ["allowed", "explicitDeny"]
    trust = evaluate_trust(
        account.trust_policy(role_arn("R")), Principal("Service", "ec2.amazonaws.com"), role_arn=role_arn("R")
    )
    assert trust.decision == "allowed"


def test_statements_are_named_as_simulate_principal_policy_names_them() -> None:
    aws_arn = "arn:aws:iam::aws:policy/ReadOnly"
    aws_policy = {**managed("ReadOnly", allow("s3:GetObject")), "Arn": aws_arn}
    entry = role("R", inline={"MyInline": allow("kms:Decrypt")}, attached=["Mine"])
    entry["AttachedManagedPolicies"].append({"PolicyName": "ReadOnly", "PolicyArn": aws_arn})
    account = Account(details([entry], [managed("Mine", allow("ec2:AttachVolume")), aws_policy]))
    policies = account.policy_set_for(role_arn("R"))
    named = [
        (m.policy_id, m.policy_type)
        for e in simulate(policies, ["kms:Decrypt", "ec2:AttachVolume", "s3:GetObject"])
        for m in e.matched
    ]
    assert named == [("MyInline", "role"), ("Mine", "user-managed"), ("ReadOnly", "aws-managed")]


def test_a_managed_policy_is_parsed_once_for_all_roles() -> None:
    account = Account(details([role("A", attached=["P"]), role("B", attached=["P"])], [managed("P", allow("ec2:*"))]))
    first = account.policy_set_for(role_arn("A")).identity[0]
    assert account.policy_set_for(role_arn("B")).identity[0] is first


def test_a_missing_default_version_names_the_policy() -> None:
    broken = managed("P", allow("ec2:*"))
    broken["DefaultVersionId"] = "v3"
    broken["PolicyVersionList"][0]["IsDefaultVersion"] = False
    account = Account(details([role("R", attached=["P"])], [broken]))
    with pytest.raises(AccountError, match=rf"managed policy {policy_arn('P')}: default version v3 is missing"):
        account.policy_set_for(role_arn("R"))


def test_an_attached_policy_absent_from_policies_names_the_policy_and_role() -> None:
    account = Account(details([role("R", attached=["Gone"])]))
    with pytest.raises(AccountError, match=r"policy/Gone \(attached to R\) is not in Policies"):
        account.policy_set_for(role_arn("R"))


def test_roles_are_found_by_arn_or_by_name() -> None:
    account = Account(details([role("Worker")]))
    assert account.role("worker").arn == role_arn("Worker")
    assert account.find_role("arn:aws:iam::999999999999:role/Worker") is None
    with pytest.raises(AccountError, match="role Nobody is not in the account details"):
        account.role("Nobody")


def test_every_scp_level_must_allow() -> None:
    account = Account(details([role("R", inline={"i": allow("ec2:*", "s3:*")})]))
    full = {"Name": "FullAWSAccess", "Id": "p-FullAWSAccess", "Content": json.dumps(allow("*"))}
    levels = [[full], [allow("ec2:*")]]
    assert decisions(account, "R", "ec2:AttachVolume", "s3:GetObject", scps=levels) == ["allowed", "implicitDeny"]
    policies = account.policy_set_for(role_arn("R"), levels)
    assert [p.id for p in policies.scps[0]] == ["FullAWSAccess"]
    assert policies.scps is account.policy_set_for(role_arn("R"), levels).scps
