"""Adversarial review of the template backend: nothing a file leaves unknown may become a pass.

The tools people use fall short here (../shared/reference/iac-predeploy.md): tf-policy-validator
skips unknown policies, tf-parliament turns unknowns into wildcards, checkov leaves UNKNOWN out of
reports, cloudsplaining drops denied actions whatever the Deny's Resource. Each case below is a
file where a naive reading would pass a requirement that the deployed role may not meet; the
verdict must be failed or broken (naming the unknown), never passed.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.support.templates import (
    ACCOUNT,
    PLAN_UNKNOWNS,
    PROFILE,
    SMALL,
    backend,
    document,
    grant,
    outcomes,
    template,
    verdicts_of,
    worker,
)

TAGS = "permission:ec2:CreateTags"
PARAMETER = {"Open": {"Type": "String"}}


def deny(**elements: Any) -> dict[str, Any]:
    return {"Effect": "Deny", "Action": "ec2:CreateTags", "Resource": "*", **elements}


def with_policy(tmp_path: Path, *statements: dict[str, Any], **role: Any) -> Path:
    """The compliant worker plus one inline policy of ``statements``."""
    policies = [
        {"PolicyName": "grant", "PolicyDocument": document(grant("ec2:CreateTags", "ec2:DescribeInstances"))},
        {"PolicyName": "extra", "PolicyDocument": document(*statements)},
    ]
    return template(tmp_path, {"Worker": worker(Policies=policies, **role), "Profile": PROFILE}, Parameters=PARAMETER)


CASES: dict[str, dict[str, Any]] = {
    "deny-on-an-unknown-resource": {"statements": [deny(Resource={"Fn::Sub": "arn:aws:ec2:*:*:instance/${Open}"})]},
    "deny-with-an-unknown-condition-value": {
        "statements": [deny(Condition={"StringEquals": {"aws:ResourceTag/team": {"Ref": "Open"}}})]
    },
    "unknown-effect": {"statements": [{"Effect": {"Ref": "Open"}, "Action": "ec2:CreateTags", "Resource": "*"}]},
    "deny-of-an-unknown-action": {"statements": [deny(Action={"Ref": "Open"})]},
    "not-action-deny-with-an-unknown-part": {
        "statements": [{"Effect": "Deny", "NotAction": {"Ref": "Open"}, "Resource": "*"}]
    },
    "unknown-statement-list": {"statements": [{"Fn::If": ["Undecided", deny(), {"Ref": "AWS::NoValue"}]}]},
}


@pytest.mark.parametrize("case", list(CASES))
def test_an_unknown_that_could_deny_is_never_a_pass(case: str, tmp_path: Path) -> None:
    path = with_policy(tmp_path, *CASES[case]["statements"])
    if case == "unknown-statement-list":
        data = json.loads(path.read_text())
        data["Conditions"] = {"Undecided": {"Fn::Equals": [{"Ref": "Open"}, "x"]}}
        path.write_text(json.dumps(data))
    outcome, message = verdicts_of(path)[TAGS]
    assert outcome in ("broken", "failed"), message
    if outcome == "broken":
        assert "Open" in message or "AWS::" in message


def test_an_unknown_allow_is_not_a_grant(tmp_path: Path) -> None:
    """tf-parliament's wildcard: an Allow whose Resource is unknown may not cover Resource "*"."""
    path = template(
        tmp_path,
        {
            "Worker": worker(
                Policies=[
                    {"PolicyName": "g", "PolicyDocument": document(grant("ec2:CreateTags", Resource={"Ref": "Open"}))}
                ]
            ),
            "Profile": PROFILE,
        },
        Parameters=PARAMETER,
    )
    outcome, message = verdicts_of(path)[TAGS]
    assert outcome == "broken"
    assert "parameter Open has no value and no Default" in message


def test_an_unknown_boundary_is_not_a_pass(tmp_path: Path) -> None:
    path = with_policy(tmp_path, grant("s3:GetObject"), PermissionsBoundary={"Ref": "Open"})
    per = verdicts_of(path)
    assert per[TAGS][0] == "broken"
    assert "Resources.Worker.Properties.PermissionsBoundary" in per[TAGS][1]


def test_an_unresolvable_managed_policy_is_not_a_pass(tmp_path: Path) -> None:
    path = with_policy(
        tmp_path, grant("s3:GetObject"), ManagedPolicyArns=["arn:aws:iam::aws:policy/NoSuchPolicyAnywhere"]
    )
    outcome, message = verdicts_of(path, account=ACCOUNT)[TAGS]
    assert outcome == "broken"
    assert "managed policy arn:aws:iam::aws:policy/NoSuchPolicyAnywhere is neither in the file" in message


def test_a_policy_that_may_attach_to_the_role_is_not_ignored(tmp_path: Path) -> None:
    resources = {
        "Worker": worker(),
        "Profile": PROFILE,
        "Maybe": {
            "Type": "AWS::IAM::Policy",
            "Properties": {"PolicyName": "maybe", "Roles": [{"Ref": "Open"}], "PolicyDocument": document(deny())},
        },
    }
    outcome, message = verdicts_of(template(tmp_path, resources, Parameters=PARAMETER))[TAGS]
    assert outcome == "broken"
    assert "it may or may not be attached to the role" in message


def test_every_allowed_value_must_pass(tmp_path: Path) -> None:
    path = with_policy(tmp_path, {"Fn::If": ["Strict", deny(), grant("s3:GetObject")]})
    data = json.loads(path.read_text())
    data["Parameters"] = {"Mode": {"Type": "String", "AllowedValues": ["lenient", "strict"]}}
    data["Conditions"] = {"Strict": {"Fn::Equals": [{"Ref": "Mode"}, "strict"]}}
    path.write_text(json.dumps(data))
    assert verdicts_of(path)[TAGS] == ("failed", "explicitly denied by extra (lines 3-8) (when Mode=strict)")


def test_an_unknown_trust_principal_is_not_a_pass(tmp_path: Path) -> None:
    trust = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"AWS": {"Ref": "Open"}}, "Action": "sts:AssumeRole"}],
    }
    path = template(
        tmp_path, {"Worker": worker(AssumeRolePolicyDocument=trust), "Profile": PROFILE}, Parameters=PARAMETER
    )
    outcome, message = verdicts_of(path)["trust:appliance"]
    assert outcome == "broken"
    assert "Resources.Worker.Properties.AssumeRolePolicyDocument.Statement[0].Principal.AWS" in message


def test_an_instance_profile_that_may_hold_another_role_is_not_a_pass(tmp_path: Path) -> None:
    profile = {"Type": "AWS::IAM::InstanceProfile", "Properties": {"Roles": [{"Ref": "Open"}]}}
    outcome, message = verdicts_of(template(tmp_path, {"Worker": worker(), "P": profile}, Parameters=PARAMETER))[
        "instance-profile"
    ]
    assert outcome == "broken"
    assert "it may or may not hold the role" in message


def test_a_terraform_policy_unknown_at_plan_time_is_not_skipped() -> None:
    """tf-policy-validator skips it silently; here it is named and the requirement is broken."""
    per = outcomes(backend(PLAN_UNKNOWNS, account=ACCOUNT), SMALL, roles=("aws_iam_role.guarded",))
    outcome, message = per["plan.json/aws_iam_role.guarded"][TAGS]
    assert outcome == "broken"
    assert "aws_iam_role_policy.guarded_logs" in message


def test_the_deny_of_a_known_file_still_fails(tmp_path: Path) -> None:
    """The other side: a known Deny fails, whatever else is unknown."""
    path = with_policy(tmp_path, deny(), {"Effect": "Allow", "Action": "s3:*", "Resource": {"Ref": "Open"}})
    assert verdicts_of(path)[TAGS] == ("failed", "explicitly denied by extra (lines 3-8)")
