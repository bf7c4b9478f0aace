"""A role that allows all 82 FLR actions only in eu-west-1, verified in us-east-1: the verdict says why.

Offline (the engine over a snapshot). The reason names the statement that nearly allowed (policy,
lines), the condition key and both values; the fix verifies in the region the policy expects or
widens the condition, and never proposes adding an action the role already allows elsewhere.
Fleet mode and per-role live runs on the local endpoint: tests/policy/test_region_conditioned_live.py.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.support.templates import EC2_TRUST, backend, template
from verification.backends import RoleRef
from verification.backends.snapshot import SnapshotBackend
from verification.requirements import load_requirement_set
from verification.scope.regions import global_region
from verification.snapshot import Snapshot
from verification.verdicts import RoleFacts, Scope, Verdict, gather, judge
from verification.verdicts.remediation import propose

ACCOUNT = "111122223333"
ARN = f"arn:aws:iam::{ACCOUNT}:role/RegionBound"
REQUIREMENTS = load_requirement_set()
ACTIONS = list(REQUIREMENTS.actions)


def region_bound_policy(actions: list[str]) -> dict[str, Any]:
    """Every action allowed, only where aws:RequestedRegion is eu-west-1."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "OnlyInIreland",
                "Effect": "Allow",
                "Action": actions,
                "Resource": "*",
                "Condition": {"StringEquals": {"aws:RequestedRegion": "eu-west-1"}},
            }
        ],
    }


def details() -> dict[str, Any]:
    role = {
        "Arn": ARN,
        "RoleName": "RegionBound",
        "RoleId": "AROAREGIONBOUND",
        "Path": "/",
        "AssumeRolePolicyDocument": {"Version": "2012-10-17", "Statement": []},
        "RolePolicyList": [{"PolicyName": "RegionOnly", "PolicyDocument": region_bound_policy(ACTIONS)}],
        "AttachedManagedPolicies": [],
        "InstanceProfileList": [],
    }
    return {"UserDetailList": [], "GroupDetailList": [], "RoleDetailList": [role], "Policies": []}


def verdicts(region: str) -> tuple[RoleFacts, dict[str, Verdict]]:
    backend = SnapshotBackend(Snapshot(Path("GAAD"), "0" * 64, details(), ACCOUNT))
    facts = gather(backend, RoleRef.parse(ARN), REQUIREMENTS, None, scope=Scope(regions=(region,)))
    judged = {r.action or "": judge(r, facts, None) for r in REQUIREMENTS.by_kind("permission")}
    return facts, judged


@pytest.fixture(scope="module")
def in_virginia() -> tuple[RoleFacts, dict[str, Verdict]]:
    return verdicts("us-east-1")


def test_every_failure_names_the_statement_the_key_and_both_values(
    in_virginia: tuple[RoleFacts, dict[str, Verdict]],
) -> None:
    _, judged = in_virginia
    assert len(judged) == 82
    for action, verdict in judged.items():
        assert not verdict.met, action
        assert verdict.cause == "implicit-deny"
        reason = verdict.reason
        assert "no statement allows it" not in reason
        assert "the Allow in RegionOnly (lines " in reason, reason
        assert "aws:RequestedRegion is eu-west-1" in reason, reason
        assert "this run judged us-east-1" in reason, reason
        near = verdict.evidence["NearestStatement"]
        assert near["SourcePolicyId"] == "RegionOnly" and near["Sid"] == "OnlyInIreland"
        assert near["Conditions"] == [
            {
                "Operator": "StringEquals",
                "Key": "aws:RequestedRegion",
                "PolicyValues": ["eu-west-1"],
                "RequestValues": ["us-east-1"],
            }
        ]


def test_the_fix_follows_the_cause_and_never_adds_the_action_blindly(
    in_virginia: tuple[RoleFacts, dict[str, Verdict]],
) -> None:
    facts, judged = in_virginia
    for action, verdict in judged.items():
        remedy = verdict.remedy
        assert "to a policy attached to the role" not in remedy
        assert f"the role already allows {action} under this condition" in remedy, remedy
        if global_region(action.split(":")[0], "aws"):
            # IAM's requests name us-east-1 wherever the worker runs: --regions cannot help.
            assert "global service" in remedy and "to include us-east-1" in remedy, remedy
            assert "--regions" not in remedy
        else:
            assert "if the worker runs in eu-west-1, verify with `--regions eu-west-1`" in remedy, remedy
            assert "otherwise widen the condition on aws:RequestedRegion in RegionOnly (lines " in remedy
            assert "to include us-east-1" in remedy
    fix = propose(facts, list(judged.values()))
    assert fix.missing == ()  # no policy granting the actions again without the condition
    assert fix.policy is None
    assert len(fix.other) == 82 and all("RegionOnly" in item for item in fix.other)


def test_in_the_policys_own_region_the_regional_actions_pass() -> None:
    _, judged = verdicts("eu-west-1")
    failing = {a for a, v in judged.items() if not v.met}
    assert failing == {a for a in ACTIONS if global_region(a.split(":")[0], "aws")}
    assert all("global service" in judged[a].remedy for a in failing)


def test_an_action_no_statement_mentions_is_still_added() -> None:
    """Without a nearly-allowing statement the old wording and fix stand: the action is missing."""
    data = details()
    data["RoleDetailList"][0]["RolePolicyList"][0]["PolicyDocument"] = region_bound_policy(
        [a for a in ACTIONS if a != "ec2:CreateTags"]
    )
    backend = SnapshotBackend(Snapshot(Path("GAAD"), "0" * 64, data, ACCOUNT))
    facts = gather(backend, RoleRef.parse(ARN), REQUIREMENTS, None, scope=Scope(regions=("eu-west-1",)))
    requirement = next(r for r in REQUIREMENTS.by_kind("permission") if r.action == "ec2:CreateTags")
    verdict = judge(requirement, facts, None)
    assert verdict.reason == "implicitly denied: no statement allows it"
    # The fix adds the action; since #26 it also names a real resource the action touches.
    assert verdict.remedy.startswith("add ec2:CreateTags (Resource *) to a policy attached to the role")
    assert "condition" not in verdict.remedy
    assert propose(facts, [verdict]).missing == (("ec2:CreateTags", "*"),)


def test_before_deployment_a_template_names_the_statement_too(tmp_path: Path) -> None:
    """The same role declared in a CloudFormation template, judged before it exists."""
    resources = {
        "Worker": {
            "Type": "AWS::IAM::Role",
            "Properties": {
                "RoleName": "RegionBound",
                "AssumeRolePolicyDocument": EC2_TRUST,
                "Policies": [{"PolicyName": "RegionOnly", "PolicyDocument": region_bound_policy(ACTIONS)}],
            },
        }
    }
    made = backend(template(tmp_path, resources), region="us-east-1")
    [ref] = made.select()
    facts = gather(made, ref, REQUIREMENTS, None)
    verdict = judge(next(r for r in REQUIREMENTS.by_kind("permission") if r.action == "ec2:CreateTags"), facts, None)
    assert not verdict.met
    assert "the Allow in RegionOnly (lines " in verdict.reason
    assert "aws:RequestedRegion is eu-west-1; this run judged us-east-1" in verdict.reason
    assert "verify with `--regions eu-west-1`" in verdict.remedy
    assert propose(facts, [verdict]).missing == ()


def test_a_region_bound_boundary_is_named_with_its_condition() -> None:
    """The role allows everything; its boundary allows only in eu-west-1: the boundary's statement is named."""
    data = details()
    role = data["RoleDetailList"][0]
    role["RolePolicyList"] = [
        {"PolicyName": "All", "PolicyDocument": {"Version": "2012-10-17", "Statement": [grant_all()]}}
    ]
    boundary_arn = f"arn:aws:iam::{ACCOUNT}:policy/EuBoundary"
    role["PermissionsBoundary"] = {"PermissionsBoundaryType": "Policy", "PermissionsBoundaryArn": boundary_arn}
    data["Policies"] = [
        {
            "PolicyName": "EuBoundary",
            "Arn": boundary_arn,
            "DefaultVersionId": "v1",
            "PolicyVersionList": [
                {"VersionId": "v1", "IsDefaultVersion": True, "Document": region_bound_policy(ACTIONS)}
            ],
        }
    ]
    backend = SnapshotBackend(Snapshot(Path("GAAD"), "0" * 64, data, ACCOUNT))
    facts = gather(backend, RoleRef.parse(ARN), REQUIREMENTS, None, scope=Scope(regions=("us-east-1",)))
    requirement = next(r for r in REQUIREMENTS.by_kind("permission") if r.action == "ec2:CreateTags")
    verdict = judge(requirement, facts, None)
    assert (verdict.met, verdict.cause) == (False, "boundary")
    assert verdict.reason.startswith(f"not allowed by the permissions boundary {boundary_arn}: the Allow in EuBoundary")
    assert "aws:RequestedRegion is eu-west-1; this run judged us-east-1" in verdict.reason
    assert "verify with `--regions eu-west-1`" in verdict.remedy and "add ec2:CreateTags" not in verdict.remedy
    assert propose(facts, [verdict]).blockers == ()


def grant_all() -> dict[str, Any]:
    return {"Effect": "Allow", "Action": "*", "Resource": "*"}
