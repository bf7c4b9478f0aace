"""CloudFormation and CDK templates: intrinsic functions, parameters, conditions, and the verdicts they lead to."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.support.templates import (
    ACCOUNT,
    APPLIANCE,
    CDK_JSON,
    CFN_YAML,
    FLR,
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
from verification.backends.template.cloudformation import load_template
from verification.backends.template.model import Unknown
from verification.verdicts import AppliancePrincipal, gather, judge


def tally(per: dict[str, tuple[str, str]]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for outcome, _ in per.values():
        counts[outcome] = counts.get(outcome, 0) + 1
    return counts


@pytest.fixture(scope="module")
def flr_defaults() -> dict[str, dict[str, tuple[str, str]]]:
    """The YAML test data with nothing given: Defaults used, AllowedValues tried, unknowns open."""
    return outcomes(backend(CFN_YAML), FLR)


def test_the_compliant_role_passes_every_requirement_in_every_case(flr_defaults: Any) -> None:
    assert tally(flr_defaults["flr-worker.cfn.yaml/WorkerRole"]) == {"passed": 85}


def test_a_deny_in_one_allowed_value_fails_and_names_the_value(flr_defaults: Any) -> None:
    per = flr_defaults["flr-worker.cfn.yaml/ProdDenyRole"]
    assert tally(per) == {"passed": 84, "failed": 1}
    assert per["permission:ec2:TerminateInstances"] == (
        "failed",
        "explicitly denied by prod-guard (lines 3-9) (when Stage=prod)",
    )


def test_a_deny_on_an_unset_parameter_is_broken_and_says_what_resolves_it(flr_defaults: Any) -> None:
    per = flr_defaults["flr-worker.cfn.yaml/UnknownDenyRole"]
    assert tally(per) == {"passed": 84, "broken": 1}
    outcome, message = per["permission:ec2:CreateTags"]
    assert outcome == "broken"
    assert "Resources.UnknownDenyRole.Properties.Policies[1].PolicyDocument.Statement[0].Resource" in message
    assert "parameter ProtectedInstance has no value and no Default" in message
    assert message.endswith("pass --parameter ProtectedInstance=VALUE")


def test_the_broken_role_fails_as_an_offline_run_explains_it(flr_defaults: Any) -> None:
    per = flr_defaults["flr-worker.cfn.yaml/DeniedRole"]
    assert tally(per) == {"passed": 73, "failed": 12}
    assert per["instance-profile"] == ("failed", "not in any instance profile")
    assert per["trust:appliance"] == ("failed", "trust policy does not allow 111111111111 to assume the role")
    assert per["permission:ec2:DeleteSnapshot"] == ("failed", "explicitly denied by no-deletes (lines 3-12)")
    assert per["permission:kms:CreateGrant"] == (
        "failed",
        "not allowed by the permissions boundary arn:aws:iam::000000000000:policy/VeeamFLRWorkerBoundary",
    )


def test_an_unresolvable_managed_policy_breaks_every_permission(flr_defaults: Any) -> None:
    per = flr_defaults["flr-worker.cfn.yaml/ExternalPolicyRole"]
    assert tally(per) == {"passed": 2, "failed": 1, "broken": 82}
    assert "AWS::AccountId: the account is not given" in per["permission:ec2:CreateTags"][1]
    with_account = outcomes(backend(CFN_YAML, account=ACCOUNT), FLR, roles=("ExternalPolicyRole",))
    message = with_account["flr-worker.cfn.yaml/ExternalPolicyRole"]["permission:ec2:CreateTags"][1]
    assert f"managed policy arn:aws:iam::{ACCOUNT}:policy/ExternalFLRPolicy is neither in the file" in message
    assert "give --snapshot of the account that holds it" in message


def test_given_values_decide_what_was_open() -> None:
    given = {"Stage": "dev", "LogBucket": "flr-logs", "ProtectedInstance": "i-0123456789abcdef0"}
    found = outcomes(
        backend(CFN_YAML, account=ACCOUNT, parameters=given), FLR, roles=("ProdDenyRole", "UnknownDenyRole")
    )
    assert tally(found["flr-worker.cfn.yaml/ProdDenyRole"]) == {"passed": 85}
    per = found["flr-worker.cfn.yaml/UnknownDenyRole"]
    # A Deny on one named instance leaves CreateTags on every other instance and on the resources the
    # worker creates: judged on a representative ARN per resource type, it does not take the permission away.
    outcome, reason = per["permission:ec2:CreateTags"]
    assert outcome == "passed" and reason.startswith("allowed by "), reason


def test_a_default_is_used_and_the_verdict_says_so() -> None:
    made = backend(CFN_YAML, parameters={"Stage": "prod", "LogBucket": "b"})
    [ref] = made.select(["WorkerRole"])
    facts = gather(made, ref, FLR, APPLIANCE)
    verdict = judge(FLR.by_id("permission:ec2:CreateTags"), facts, APPLIANCE)
    assert verdict.met
    assert "parameter NamePrefix is not given: its Default 'VeeamFLR' was used" in verdict.note
    assert "SCPs and drift are outside a template" in verdict.note
    assert ref.arn == "arn:aws:iam::000000000000:role/VeeamFLRWorker"


def test_a_passed_value_wins_over_the_default() -> None:
    made = backend(CFN_YAML, parameters={"Stage": "prod", "NamePrefix": "Acme"})
    [ref] = made.select(["WorkerRole"])
    assert ref.name == "AcmeWorker"
    assert ref.label == "flr-worker.cfn.yaml/WorkerRole"


def test_every_intrinsic_resolves_as_cloudformation_would() -> None:
    made = backend(CFN_YAML, account=ACCOUNT, region="eu-west-1", parameters={"Stage": "prod", "LogBucket": "logs"})
    [world] = made.worlds("WorkerRole")
    role = world.role
    assert role is not None
    assert role.name == "VeeamFLRWorker"  # Fn::Join over a Default
    trust = role.trust["Statement"]
    assert trust[0]["Principal"] == {"Service": "ec2.amazonaws.com"}  # Fn::Sub with AWS::URLSuffix
    assert trust[1]["Principal"] == {"AWS": "arn:aws:iam::111111111111:root"}  # Fn::Sub with AWS::Partition
    ec2 = role.inline[0].body["Statement"]
    assert ec2[0]["Action"][:2] == ["ec2:CopySnapshot", "ec2:CreateSnapshot"]  # Fn::Split over Fn::FindInMap
    assert ec2[3]["Resource"] == "arn:aws:sqs:*:*:flr-prod-*"  # Fn::If, Fn::Sub with variables, FindInMap by Ref
    messaging = next(m for m in role.managed if m.document is not None and m.document.name == "VeeamFLRWorkerMessaging")
    assert messaging.arn == f"arn:aws:iam::{ACCOUNT}:policy/VeeamFLRWorkerMessaging"
    assert messaging.document is not None
    assert messaging.document.body["Statement"][0]["Action"] == ["ec2messages:*", "ssmmessages:*"]  # Join/Select, Sub
    rest = next(d for d in role.inline if d.name == "flr-worker-rest").body["Statement"]
    assert rest[1]["Resource"] == f"arn:aws:iam::{ACCOUNT}:role/VeeamFLRWorker"  # Fn::GetAtt Arn
    assert rest[2]["Resource"] == f"arn:aws:logs:eu-west-1:{ACCOUNT}:log-group:/veeam/flr/*"  # AWS::Region, AccountId
    assert [s["Sid"] for s in rest] == ["Rest", "PassItself", "OwnLogs", "WriteLogs", "ReadLogs"]  # Fn::And, Fn::Not
    assert [p.name for p in role.profiles] == ["VeeamFLRWorker"]  # Fn::Or in the profile's Condition
    aws_managed = next(m for m in role.managed if m.arn == "arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore")
    assert aws_managed.document is not None  # from moto's copy
    assert "moto" in made.managed.used["arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore"]


def test_allowed_values_and_undecidable_conditions_make_one_case_each() -> None:
    made = backend(CFN_YAML)
    labels = [w.label for w in made.worlds("WorkerRole")]
    assert sorted(labels) == [
        "Stage=dev, condition HasLogBucket is false",
        "Stage=dev, condition HasLogBucket is true",
        "Stage=prod, condition HasLogBucket is false",
        "Stage=prod, condition HasLogBucket is true",
    ]


def test_unknown_values_are_unknown_not_guessed() -> None:
    made = backend(CFN_YAML, parameters={"Stage": "dev"})
    worlds = {w.label: w.role for w in made.worlds("WorkerRole")}
    role = worlds["condition HasLogBucket is true"]
    assert role is not None
    write_logs = next(d for d in role.inline if d.name == "flr-worker-rest").body["Statement"][3]
    assert isinstance(write_logs["Resource"], Unknown)
    assert write_logs["Resource"].why == "parameter LogBucket has no value and no Default"


def test_yaml_short_form_tags_read_as_long_form(tmp_path: Path) -> None:
    path = tmp_path / "tags.yaml"
    path.write_text(
        "Resources:\n"
        "  R:\n"
        "    Type: AWS::SNS::Topic\n"
        "    Properties:\n"
        "      A: !Ref X\n"
        "      B: !GetAtt Role.Arn\n"
        "      C: !Sub 'x-${AWS::Region}'\n"
        "      D: !Join [',', [a, b]]\n"
        "      E: !If [Cond, 1, 2]\n"
        "      F: !Select [0, !Split [',', 'a,b']]\n"
        "      G: !FindInMap [M, K, V]\n"
        "      H: !And [!Condition C1, !Not [!Equals [a, b]], !Or [!Condition C2, !Condition C3]]\n"
        "      I: 2012-10-17\n"
    )
    properties = load_template(path)["Resources"]["R"]["Properties"]
    assert properties == {
        "A": {"Ref": "X"},
        "B": {"Fn::GetAtt": ["Role", "Arn"]},
        "C": {"Fn::Sub": "x-${AWS::Region}"},
        "D": {"Fn::Join": [",", ["a", "b"]]},
        "E": {"Fn::If": ["Cond", 1, 2]},
        "F": {"Fn::Select": [0, {"Fn::Split": [",", "a,b"]}]},
        "G": {"Fn::FindInMap": ["M", "K", "V"]},
        "H": {
            "Fn::And": [
                {"Condition": "C1"},
                {"Fn::Not": [{"Fn::Equals": ["a", "b"]}]},
                {"Fn::Or": [{"Condition": "C2"}, {"Condition": "C3"}]},
            ]
        },
        "I": "2012-10-17",  # a policy Version stays text, not a date
    }


def test_an_undecidable_if_must_pass_on_both_branches(tmp_path: Path) -> None:
    deny_tags = {"Effect": "Deny", "Action": "ec2:CreateTags", "Resource": "*"}
    path = template(
        tmp_path,
        {
            "Worker": worker(
                Policies=[
                    {
                        "PolicyName": "grant",
                        "PolicyDocument": document(grant("ec2:CreateTags", "ec2:DescribeInstances")),
                    },
                    {
                        "PolicyName": "guard",
                        "PolicyDocument": document({"Fn::If": ["Strict", deny_tags, grant("s3:GetObject")]}),
                    },
                ]
            ),
            "Profile": PROFILE,
        },
        Parameters={"Mode": {"Type": "String"}},
        Conditions={"Strict": {"Fn::Equals": [{"Ref": "Mode"}, "strict"]}},
    )
    per = verdicts_of(path)
    assert per["permission:ec2:CreateTags"] == (
        "failed",
        "explicitly denied by guard (lines 3-8) (when condition Strict is true)",
    )
    assert per["permission:ec2:DescribeInstances"][0] == "passed"
    assert verdicts_of(path, parameters={"Mode": "lenient"})["permission:ec2:CreateTags"][0] == "passed"


def test_policies_attach_through_roles_and_role_name(tmp_path: Path) -> None:
    base = worker(Policies=[])
    path = template(
        tmp_path,
        {
            "Worker": base,
            "Other": {**worker(RoleName="Other")},
            "Tags": {
                "Type": "AWS::IAM::Policy",
                "Properties": {
                    "PolicyName": "tags",
                    "Roles": [{"Ref": "Worker"}],
                    "PolicyDocument": document(grant("ec2:CreateTags")),
                },
            },
            "Describe": {
                "Type": "AWS::IAM::RolePolicy",
                "Properties": {
                    "PolicyName": "describe",
                    "RoleName": "Worker",
                    "PolicyDocument": document(grant("ec2:DescribeInstances")),
                },
            },
            "Denied": {
                "Type": "AWS::IAM::ManagedPolicy",
                "Properties": {
                    "ManagedPolicyName": "deny",
                    "Roles": [{"Ref": "Other"}],
                    "PolicyDocument": document({"Effect": "Deny", "Action": "ec2:*", "Resource": "*"}),
                },
            },
            "Profile": PROFILE,
        },
    )
    found = outcomes(backend(path, account=ACCOUNT))
    worker_outcomes = found["template.json/Worker"]
    assert {k: v[0] for k, v in worker_outcomes.items()} == {
        "instance-profile": "passed",
        "trust:appliance": "passed",
        "trust:ec2.amazonaws.com": "passed",
        "permission:ec2:CreateTags": "passed",
        "permission:ec2:DescribeInstances": "passed",
    }
    other = found["template.json/Other"]
    assert other["permission:ec2:CreateTags"] == ("failed", "explicitly denied by deny (lines 3-8)")
    assert other["instance-profile"] == ("failed", "not in any instance profile")


def test_cdk_synth_output_is_read_with_its_generated_names() -> None:
    found = outcomes(backend(CDK_JSON), FLR)
    assert tally(found["flr-worker.cdk.template.json/FlrWorkerRole5D6B0B8C"]) == {"passed": 85}
    narrow = found["flr-worker.cdk.template.json/NarrowWorkerRoleB0E5A6C1"]
    assert narrow["permission:ssm:GetDocument"] == ("failed", "implicitly denied: no statement allows it")
    assert narrow["instance-profile"] == ("failed", "not in any instance profile")
    # Its condition compares with AWS::Region, which is open until a region is given.
    assert narrow["permission:ec2:RunInstances"][0] == "broken"
    assert "pass --aws-region" in narrow["permission:ec2:RunInstances"][1]
    regional = outcomes(backend(CDK_JSON, region="eu-west-1"), FLR, roles=("NarrowWorkerRoleB0E5A6C1",))
    # Deployed in eu-west-1, its requests carry aws:RequestedRegion eu-west-1: the condition holds there.
    outcome, reason = regional["flr-worker.cdk.template.json/NarrowWorkerRoleB0E5A6C1"]["permission:ec2:RunInstances"]
    assert outcome == "passed" and reason.startswith("allowed by "), reason


def test_a_snapshot_resolves_managed_policies_and_instance_profiles(tmp_path: Path) -> None:
    arn = f"arn:aws:iam::{ACCOUNT}:policy/External"
    path = template(tmp_path, {"Worker": worker(Policies=[], ManagedPolicyArns=[arn])})
    alone = verdicts_of(path, account=ACCOUNT)
    assert alone["permission:ec2:CreateTags"][0] == "broken"
    assert alone["instance-profile"] == ("failed", "not in any instance profile")
    snapshot = tmp_path / "account.json"
    snapshot.write_text(
        json.dumps(
            {
                "RoleDetailList": [
                    {
                        "RoleName": "Worker",
                        "Arn": f"arn:aws:iam::{ACCOUNT}:role/Worker",
                        "InstanceProfileList": [
                            {
                                "InstanceProfileName": "WorkerProfile",
                                "Arn": f"arn:aws:iam::{ACCOUNT}:instance-profile/W",
                            }
                        ],
                    }
                ],
                "Policies": [
                    {
                        "PolicyName": "External",
                        "Arn": arn,
                        "DefaultVersionId": "v1",
                        "PolicyVersionList": [
                            {
                                "VersionId": "v1",
                                "IsDefaultVersion": True,
                                "Document": document(grant("ec2:CreateTags", "ec2:DescribeInstances")),
                            }
                        ],
                    }
                ],
            }
        )
    )
    made = backend(path, account=ACCOUNT, snapshot=snapshot)
    [per] = outcomes(made).values()
    assert per["permission:ec2:CreateTags"] == ("passed", "allowed by External (lines 3-11)")
    assert per["instance-profile"] == ("passed", "in instance profile(s): WorkerProfile")
    assert made.managed.used == {arn: "the --snapshot"}


def test_the_appliance_role_outside_the_file_is_not_claimed_checked(tmp_path: Path) -> None:
    appliance = AppliancePrincipal.parse(f"arn:aws:iam::{ACCOUNT}:role/VeeamImpersonation")
    trust = document({"Effect": "Allow", "Principal": {"AWS": appliance.value}, "Action": "sts:AssumeRole"})
    made = backend(template(tmp_path, {"Worker": worker(AssumeRolePolicyDocument=trust)}), account=ACCOUNT)
    [ref] = made.select()
    verdict = judge(SMALL.by_id("trust:appliance"), gather(made, ref, SMALL, appliance), appliance)
    assert verdict.met
    assert f"the appliance role {appliance.value} is not in the file" in verdict.note


def test_scps_apply_as_offline(tmp_path: Path) -> None:
    scp = tmp_path / "scp.json"
    scp.write_text(
        json.dumps(
            document(
                {"Effect": "Allow", "Action": "*", "Resource": "*"},
                {"Effect": "Deny", "Action": "ec2:CreateTags", "Resource": "*"},
            )
        )
    )
    path = template(tmp_path, {"Worker": worker(), "Profile": PROFILE})
    made = backend(path, scps=[scp])
    assert "1 SCP level(s) from --scp" in made.description
    [per] = outcomes(made).values()
    assert per["permission:ec2:CreateTags"] == ("failed", "denied by a service control policy")
    assert per["permission:ec2:DescribeInstances"][0] == "passed"
