"""SimulatePrincipalPolicy and friends through real boto3 over HTTP against the local endpoint."""

from __future__ import annotations

import json
import urllib.parse
from collections.abc import Callable
from typing import Any

import pytest
from botocore.exceptions import ClientError

ClientFactory = Callable[..., Any]
ACCOUNT = "123456789012"
TRUST = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}],
}


def doc(*statements: dict[str, Any]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def allow(action: str | list[str], resource: str = "*", **extra: Any) -> dict[str, Any]:
    return {"Effect": "Allow", "Action": action, "Resource": resource, **extra}


def deny(action: str | list[str], resource: str = "*", **extra: Any) -> dict[str, Any]:
    return {"Effect": "Deny", "Action": action, "Resource": resource, **extra}


def make_role(iam: Any, name: str, *, inline: dict[str, str] | None = None, managed: tuple[str, ...] = ()) -> str:
    """Create a role with inline policies (name → document) and attached managed policy ARNs."""
    arn: str = iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(TRUST))["Role"]["Arn"]
    for policy_name, document in (inline or {}).items():
        iam.put_role_policy(RoleName=name, PolicyName=policy_name, PolicyDocument=document)
    for policy_arn in managed:
        iam.attach_role_policy(RoleName=name, PolicyArn=policy_arn)
    return arn


def decisions(response: dict[str, Any]) -> dict[str, str]:
    return {r["EvalActionName"]: r["EvalDecision"] for r in response["EvaluationResults"]}


def error_code(error: pytest.ExceptionInfo[ClientError]) -> str:
    return str(error.value.response["Error"]["Code"])


def test_role_inline_managed_and_boundary_all_count(iam: Any) -> None:
    managed = iam.create_policy(PolicyName="sim-managed", PolicyDocument=doc(allow(["ec2:Describe*", "iam:PassRole"])))
    boundary = iam.create_policy(PolicyName="sim-boundary", PolicyDocument=doc(allow(["s3:*", "ec2:Describe*"])))
    role = make_role(
        iam, "sim-layers", inline={"inline-s3": doc(allow("s3:GetObject"))}, managed=(managed["Policy"]["Arn"],)
    )
    iam.put_role_permissions_boundary(RoleName="sim-layers", PermissionsBoundary=boundary["Policy"]["Arn"])

    response = iam.simulate_principal_policy(
        PolicySourceArn=role,
        ActionNames=["s3:GetObject", "ec2:DescribeInstances", "iam:PassRole", "sqs:SendMessage"],
    )

    assert decisions(response) == {
        "s3:GetObject": "allowed",
        "ec2:DescribeInstances": "allowed",
        "iam:PassRole": "implicitDeny",  # the managed policy allows it, the boundary does not
        "sqs:SendMessage": "implicitDeny",
    }
    by_action = {r["EvalActionName"]: r for r in response["EvaluationResults"]}
    s3_source = by_action["s3:GetObject"]["MatchedStatements"][0]
    # AWS names a role's inline policy role_<RoleName>_<PolicyName> in its answers.
    assert (s3_source["SourcePolicyId"], s3_source["SourcePolicyType"]) == ("role_sim-layers_inline-s3", "role")
    ec2_source = by_action["ec2:DescribeInstances"]["MatchedStatements"][0]
    assert (ec2_source["SourcePolicyId"], ec2_source["SourcePolicyType"]) == ("sim-managed", "user-managed")
    assert by_action["iam:PassRole"]["PermissionsBoundaryDecisionDetail"] == {"AllowedByPermissionsBoundary": False}


def test_only_the_default_version_of_a_managed_policy_counts(iam: Any) -> None:
    policy = iam.create_policy(PolicyName="sim-versions", PolicyDocument=doc(allow("s3:GetObject")))["Policy"]
    iam.create_policy_version(PolicyArn=policy["Arn"], PolicyDocument=doc(allow("s3:PutObject")), SetAsDefault=False)
    role = make_role(iam, "sim-versions", managed=(policy["Arn"],))

    response = iam.simulate_principal_policy(PolicySourceArn=role, ActionNames=["s3:GetObject", "s3:PutObject"])

    assert decisions(response) == {"s3:GetObject": "allowed", "s3:PutObject": "implicitDeny"}


def test_aws_managed_policy_is_evaluated(iam: Any) -> None:
    role = make_role(iam, "sim-aws-managed", managed=("arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess",))

    response = iam.simulate_principal_policy(PolicySourceArn=role, ActionNames=["s3:GetObject", "s3:PutObject"])

    assert decisions(response) == {"s3:GetObject": "allowed", "s3:PutObject": "implicitDeny"}
    source = response["EvaluationResults"][0]["MatchedStatements"][0]
    assert (source["SourcePolicyId"], source["SourcePolicyType"]) == ("AmazonS3ReadOnlyAccess", "aws-managed")


def test_explicit_deny_names_the_deny_statement_per_resource(iam: Any) -> None:
    document = json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                allow("s3:*"),
                deny("s3:DeleteObject", "arn:aws:s3:::backups/*", Sid="KeepBackups"),
            ],
        },
        indent=2,
    )
    role = make_role(iam, "sim-deny", inline={"guard": document})

    response = iam.simulate_principal_policy(
        PolicySourceArn=role,
        ActionNames=["s3:DeleteObject"],
        ResourceArns=["arn:aws:s3:::backups/a", "arn:aws:s3:::scratch/a"],
    )

    [result] = response["EvaluationResults"]
    assert result["EvalDecision"] == "explicitDeny"  # the most restrictive over both resources
    assert result["EvalResourceName"] == "*"  # AWS names an ARN template or *, never an ARN asked about
    assert "EvalDecisionDetails" not in result  # only cross-account simulations carry it
    per_resource = {r["EvalResourceName"]: r for r in result["ResourceSpecificResults"]}
    assert per_resource["arn:aws:s3:::backups/a"]["EvalResourceDecision"] == "explicitDeny"
    assert per_resource["arn:aws:s3:::scratch/a"]["EvalResourceDecision"] == "allowed"
    [matched] = per_resource["arn:aws:s3:::backups/a"]["MatchedStatements"]
    assert matched["SourcePolicyId"] == "role_sim-deny_guard"
    deny_line = next(i for i, line in enumerate(document.splitlines(), 1) if '"Effect": "Deny"' in line)
    assert matched["StartPosition"]["Line"] < deny_line <= matched["EndPosition"]["Line"]


def test_pagination_returns_every_action_exactly_once(iam: Any) -> None:
    actions = [f"s3:{name}" for name in ("GetObject", "PutObject", "ListBucket", "DeleteObject", "GetBucketPolicy")]
    actions += ["ec2:DescribeInstances", "ec2:RunInstances"]
    role = make_role(iam, "sim-pages", inline={"s3": doc(allow("s3:*"))})

    first = iam.simulate_principal_policy(PolicySourceArn=role, ActionNames=actions, MaxItems=3)
    assert first["IsTruncated"] is True and len(first["EvaluationResults"]) == 3
    pages = iam.get_paginator("simulate_principal_policy").paginate(
        PolicySourceArn=role, ActionNames=actions, PaginationConfig={"PageSize": 3}
    )
    seen = [r["EvalActionName"] for page in pages for r in page["EvaluationResults"]]

    assert seen == actions


def test_each_answer_carries_its_own_request_id_in_body_and_header(iam: Any) -> None:
    """The request id is what evidence cites: the body's and the header's agree, and differ per call."""
    role = make_role(iam, "sim-request-id", inline={"s3": doc(allow("s3:GetObject"))})

    ids = []
    for _ in range(2):
        answer = iam.simulate_principal_policy(PolicySourceArn=role, ActionNames=["s3:GetObject"], ResourceArns=["*"])
        metadata = answer["ResponseMetadata"]
        assert metadata["RequestId"] == metadata["HTTPHeaders"]["x-amzn-requestid"]
        ids.append(metadata["RequestId"])

    assert ids[0] != ids[1] and "pending" not in ids


def test_bad_marker_is_invalid_input(iam: Any) -> None:
    role = make_role(iam, "sim-marker")
    with pytest.raises(ClientError) as error:
        iam.simulate_principal_policy(PolicySourceArn=role, ActionNames=["s3:GetObject"], Marker="not-a-marker")
    assert error_code(error) == "InvalidInput"


def test_context_entries_decide_conditions(iam: Any) -> None:
    condition = {"StringEquals": {"aws:RequestedRegion": "eu-west-1"}}
    role = make_role(iam, "sim-context", inline={"regional": doc(allow("s3:GetObject", Condition=condition))})

    def simulate(*entries: dict[str, Any]) -> dict[str, Any]:
        result: dict[str, Any] = iam.simulate_principal_policy(
            PolicySourceArn=role, ActionNames=["s3:GetObject"], ContextEntries=list(entries)
        )["EvaluationResults"][0]
        return result

    def region(value: str) -> dict[str, Any]:
        return {"ContextKeyName": "aws:RequestedRegion", "ContextKeyValues": [value], "ContextKeyType": "string"}

    without = simulate()
    assert without["EvalDecision"] == "implicitDeny"
    assert [k.lower() for k in without["MissingContextValues"]] == ["aws:requestedregion"]
    assert simulate(region("eu-west-1"))["EvalDecision"] == "allowed"
    assert simulate(region("us-east-1"))["EvalDecision"] == "implicitDeny"


def test_user_gets_group_policies(iam: Any) -> None:
    iam.create_group(GroupName="sim-readers")
    iam.put_group_policy(GroupName="sim-readers", PolicyName="read", PolicyDocument=doc(allow("s3:GetObject")))
    user = iam.create_user(UserName="sim-reader")["User"]["Arn"]
    iam.add_user_to_group(GroupName="sim-readers", UserName="sim-reader")

    response = iam.simulate_principal_policy(PolicySourceArn=user, ActionNames=["s3:GetObject", "s3:PutObject"])

    assert decisions(response) == {"s3:GetObject": "allowed", "s3:PutObject": "implicitDeny"}
    source = response["EvaluationResults"][0]["MatchedStatements"][0]
    assert (source["SourcePolicyId"], source["SourcePolicyType"]) == ("group_sim-readers_read", "group")


def test_policy_input_list_and_exclusions(iam: Any) -> None:
    role = make_role(iam, "sim-inputs", inline={"own": doc(allow("s3:GetObject"))})

    response = iam.simulate_principal_policy(
        PolicySourceArn=role,
        ActionNames=["s3:GetObject", "sqs:SendMessage"],
        PolicyInputList=[doc(allow("sqs:SendMessage"))],
        PolicyExclusionList=[{"PolicyType": "inline"}],
    )

    assert decisions(response) == {"s3:GetObject": "implicitDeny", "sqs:SendMessage": "allowed"}
    source = response["EvaluationResults"][1]["MatchedStatements"][0]
    assert source["SourcePolicyId"] == "PolicyInputList.1"


def test_unknown_role_is_no_such_entity(iam: Any) -> None:
    with pytest.raises(ClientError) as error:
        iam.simulate_principal_policy(
            PolicySourceArn=f"arn:aws:iam::{ACCOUNT}:role/does-not-exist", ActionNames=["s3:GetObject"]
        )
    assert error_code(error) == "NoSuchEntity"
    assert error.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404


@pytest.mark.parametrize(
    "arn",
    [
        f"arn:aws:sts::{ACCOUNT}:assumed-role/sim/session",
        "arn:aws:s3:::bucket-name-only",
        f"arn:aws:iam::{ACCOUNT}:policy/not-an-entity",
    ],
)
def test_non_entity_arn_is_invalid_input(iam: Any, arn: str) -> None:
    with pytest.raises(ClientError) as error:
        iam.simulate_principal_policy(PolicySourceArn=arn, ActionNames=["s3:GetObject"])
    assert error_code(error) == "InvalidInput"


def test_custom_policy_and_unparsable_input(iam: Any) -> None:
    response = iam.simulate_custom_policy(
        PolicyInputList=[doc(allow("s3:GetObject"))], ActionNames=["s3:GetObject", "s3:PutObject"]
    )
    assert decisions(response) == {"s3:GetObject": "allowed", "s3:PutObject": "implicitDeny"}
    source = response["EvaluationResults"][0]["MatchedStatements"][0]
    assert (source["SourcePolicyId"], source["SourcePolicyType"]) == ("PolicyInputList.1", "IAM Policy")

    with pytest.raises(ClientError) as error:
        iam.simulate_custom_policy(PolicyInputList=['{"Statement": ['], ActionNames=["s3:GetObject"])
    assert error_code(error) == "InvalidInput"
    assert "PolicyInputList.1" in error.value.response["Error"]["Message"]


def test_custom_policy_with_ordered_scps(iam: Any) -> None:
    response = iam.simulate_custom_policy(
        PolicyInputList=[doc(allow("*"))],
        OrderedOrganizationPolicyInputList=[
            {"ServiceControlPolicyInputList": [doc(allow("*"))]},
            {"ServiceControlPolicyInputList": [doc(allow("s3:*"))]},
        ],
        ActionNames=["s3:GetObject", "ec2:RunInstances"],
    )
    assert decisions(response) == {"s3:GetObject": "allowed", "ec2:RunInstances": "implicitDeny"}


def test_context_keys_for_principal_policy(iam: Any) -> None:
    condition = {"StringEquals": {"aws:RequestedRegion": "eu-west-1", "s3:prefix": "${aws:username}/"}}
    role = make_role(iam, "sim-keys", inline={"k": doc(allow("s3:ListBucket", Condition=condition))})

    keys = iam.get_context_keys_for_principal_policy(
        PolicySourceArn=role,
        PolicyInputList=[urllib.parse.quote(doc(allow("ec2:*", Condition={"Bool": {"aws:SecureTransport": "true"}})))],
    )["ContextKeyNames"]

    assert sorted(k.lower() for k in keys) == [
        "aws:requestedregion",
        "aws:securetransport",
        "aws:username",
        "s3:prefix",
    ]


def test_scps_of_a_member_account_apply(client: ClientFactory, member: dict[str, Any]) -> None:
    member_iam = client("iam", **member["credentials"])
    role = make_role(member_iam, "sim-member-admin", inline={"admin": doc(allow("*"))})

    response = member_iam.simulate_principal_policy(
        PolicySourceArn=role,
        ActionNames=["s3:GetObject", "s3:DeleteBucket", "ec2:TerminateInstances", "iam:ListRoles"],
    )

    assert decisions(response) == {
        "s3:GetObject": "allowed",
        "s3:DeleteBucket": "explicitDeny",  # denied by the OU's SCP
        "ec2:TerminateInstances": "explicitDeny",  # denied by the account's SCP
        "iam:ListRoles": "implicitDeny",  # the OU's allow-list SCP has no iam:*
    }
    by_action = {r["EvalActionName"]: r for r in response["EvaluationResults"]}
    assert by_action["s3:GetObject"]["OrganizationsDecisionDetail"] == {"AllowedByOrganizations": True}
    for action in ("s3:DeleteBucket", "ec2:TerminateInstances", "iam:ListRoles"):
        assert by_action[action]["OrganizationsDecisionDetail"] == {"AllowedByOrganizations": False}
        assert by_action[action]["MatchedStatements"] == []  # SCP statements are never listed


def test_scps_never_restrict_the_management_account(iam: Any, member: dict[str, Any]) -> None:
    role = make_role(iam, "sim-management-admin", inline={"admin": doc(allow("*"))})

    response = iam.simulate_principal_policy(PolicySourceArn=role, ActionNames=["s3:DeleteBucket"])

    assert decisions(response) == {"s3:DeleteBucket": "allowed"}
    assert "OrganizationsDecisionDetail" not in response["EvaluationResults"][0]


@pytest.fixture(scope="module")
def member(client: ClientFactory) -> dict[str, Any]:
    """A member account under root → OU "workers", with SCPs at the OU and the account.

    The OU swaps FullAWSAccess for an allow-list (s3, ec2) and denies s3:DeleteBucket; the account
    denies ec2:TerminateInstances.
    """
    org = client("organizations")
    org.create_organization(FeatureSet="ALL")
    root = org.list_roots()["Roots"][0]["Id"]
    ou = org.create_organizational_unit(ParentId=root, Name="workers")["OrganizationalUnit"]["Id"]
    account = org.create_account(AccountName="member", Email="member@example.com")["CreateAccountStatus"]["AccountId"]
    org.move_account(AccountId=account, SourceParentId=root, DestinationParentId=ou)

    def scp(name: str, document: str, target: str) -> None:
        policy_id = org.create_policy(Name=name, Description=name, Type="SERVICE_CONTROL_POLICY", Content=document)[
            "Policy"
        ]["PolicySummary"]["Id"]
        org.attach_policy(PolicyId=policy_id, TargetId=target)

    org.detach_policy(PolicyId="p-FullAWSAccess", TargetId=ou)
    scp("allow-list", doc(allow(["s3:*", "ec2:*"])), ou)
    scp("keep-buckets", doc(deny("s3:DeleteBucket")), ou)
    scp("keep-instances", doc(deny("ec2:TerminateInstances")), account)

    creds = client("sts").assume_role(
        RoleArn=f"arn:aws:iam::{account}:role/OrganizationAccountAccessRole", RoleSessionName="test"
    )["Credentials"]
    return {
        "account": account,
        "credentials": {
            "key": creds["AccessKeyId"],
            "secret": creds["SecretAccessKey"],
            "session_token": creds["SessionToken"],
        },
    }
