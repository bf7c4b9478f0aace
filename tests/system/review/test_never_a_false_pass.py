"""Adversarial review: hunting false passes and wrong explanations.

Each test states what AWS documents and checks the harness agrees. Every finding of the review
was fixed, so each test is now a regression guard; a new finding goes in as
``xfail(strict=True)`` until it is fixed. Public API only: ``verification.policy``, ``verification.verdicts``
with a fake ``Backend``, the snapshot backend, and the suite run in a subprocess.

AWS sources quoted in reasons:
- global keys: https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-keys.html
  (aws:PrincipalArn / aws:PrincipalAccount: "included in the request context for all signed
  requests"; aws:CurrentTime: "always included in the request context")
- ResourceSpecificResult / EvaluationResult: https://docs.aws.amazon.com/IAM/latest/APIReference/API_EvaluationResult.html
- simulator with Resource "*" is a literal match (cloud-custodian/cloud-custodian#4612)
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest

from verification.backends import (
    Backend,
    CallerIdentity,
    InstanceProfile,
    Role,
    RoleRef,
    SimulationRequest,
    SimulationResult,
)
from verification.backends.snapshot import SnapshotBackend
from verification.errors import CheckError
from verification.plugin import SUITE_DIR
from verification.policy import (
    Context,
    PolicyError,
    PolicySet,
    Principal,
    evaluate_trust,
    parse_policy,
    simulate,
)
from verification.requirements import Requirement, RequirementSet
from verification.scope.catalogue import representative_arns
from verification.verdicts import AppliancePrincipal, Verdict, gather, judge

ACCOUNT = "123456789012"
# The appliance's own side is simulated only where the verifying credentials can see it: same account.
APPLIANCE_ACCOUNT = ACCOUNT
ROLE = f"arn:aws:iam::{ACCOUNT}:role/Worker"
APPLIANCE_ROLE = f"arn:aws:iam::{APPLIANCE_ACCOUNT}:role/VeeamImpersonation"
APPLIANCE = AppliancePrincipal.parse(APPLIANCE_ROLE)
EC2 = Principal("Service", "ec2.amazonaws.com")


# --- helpers ------------------------------------------------------------------------------------


def policy(statements: list[dict[str, Any]], kind: str = "identity", version: str | None = "2012-10-17") -> Any:
    document: dict[str, Any] = {"Statement": statements}
    if version:
        document["Version"] = version
    return parse_policy(document, policy_id=f"{kind}-policy", policy_type=kind)


def allow(**elements: Any) -> dict[str, Any]:
    return {"Effect": "Allow", **elements}


def deny(**elements: Any) -> dict[str, Any]:
    return {"Effect": "Deny", **elements}


def decide(identity: list[dict[str, Any]], action: str, resource: str = "*", **layers: Any) -> str:
    policies = PolicySet(identity=(policy(identity),), principal_arn=ROLE, **layers)
    return simulate(policies, [action], [resource])[0].decision


def trust_decision(statements: list[dict[str, Any]], principal: Principal = APPLIANCE.principal) -> str:
    return evaluate_trust(policy(statements, "trust"), principal, role_arn=ROLE).decision


def trust_doc(*statements: dict[str, Any]) -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": list(statements)}


ACCOUNT_TRUST = trust_doc(allow(Principal={"AWS": APPLIANCE_ACCOUNT}, Action="sts:AssumeRole"))


class FakeBackend(Backend):
    """Answers as a (possibly odd) IAM API would: raw EvaluationResults, read by SimulationResult."""

    name = "fake"

    def __init__(
        self,
        results: Sequence[Mapping[str, Any]] = (),
        *,
        trust: Mapping[str, Any] = ACCOUNT_TRUST,
        appliance_results: Sequence[Mapping[str, Any]] | Exception = (),
        profiles: Sequence[InstanceProfile] | Exception = (),
    ) -> None:
        super().__init__()
        self.results = results
        self.trust = trust
        self.appliance_results = appliance_results
        self.profiles = profiles

    def caller(self) -> CallerIdentity:
        return CallerIdentity(ACCOUNT, f"arn:aws:iam::{ACCOUNT}:user/verifier")

    def get_role(self, role: RoleRef) -> Role:
        return Role(role.arn, role.name, role.account, "AROAEXAMPLEEXAMPLE01", "/", self.trust)

    def list_instance_profiles(self, role: RoleRef) -> list[InstanceProfile]:
        if isinstance(self.profiles, Exception):
            raise self.profiles
        return list(self.profiles)

    def answer(self, request: SimulationRequest, evidence_key: str) -> list[SimulationResult]:
        if request.principal_arn == APPLIANCE_ROLE:
            if isinstance(self.appliance_results, Exception):
                raise self.appliance_results
            return request.read(self.appliance_results)
        return request.read(_per_resource(self.results, request.resources))


def _per_resource(results: Sequence[Mapping[str, Any]], resources: Sequence[str]) -> list[Mapping[str, Any]]:
    """Answer as the pre-2026 API does, one result per action and resource asked about.

    A scripted result for Resource ``*`` (at the top level, or the 2026 shape's per-resource entries)
    stands for every resource asked: the harness also asks about a representative ARN per resource
    type. Results that name other resources are given as they are.
    """
    out: list[Mapping[str, Any]] = []
    for item in results:
        specific = item.get("ResourceSpecificResults") or []
        if specific and all(entry.get("EvalResourceName") == "*" for entry in specific):
            each = [{**entry, "EvalResourceName": resource} for entry in specific for resource in resources]
            out.append({**item, "ResourceSpecificResults": each})
        elif specific or item.get("EvalResourceName", "*") != "*":
            out.append(item)
        else:
            out.extend({**item, "EvalResourceName": resource} for resource in resources)
    return out


def requirement_set(*requirements: Requirement) -> RequirementSet:
    return RequirementSet(
        "review", "review", "1", "https://example.invalid", "p", "b", "d", "e", "f", requirements, Path("r"), "0"
    )


GET_OBJECT = Requirement("permission:s3:GetObject", "permission", "s", "critical", action="s3:GetObject")
TRUST_APPLIANCE = Requirement("trust:appliance", "trust", "s", "critical", principal="appliance")
TRUST_EC2 = Requirement(
    "trust:ec2.amazonaws.com", "trust", "s", "critical", principal=(("Service", "ec2.amazonaws.com"),)
)
INSTANCE_PROFILE = Requirement("instance-profile", "instance-profile", "s", "critical")


def verdict_of(requirement: Requirement, backend: Backend, appliance: AppliancePrincipal | None = None) -> Verdict:
    """gather + judge as the plugin does; CheckError propagates (= broken)."""
    facts = gather(backend, RoleRef.parse(ROLE), requirement_set(requirement), appliance)
    return judge(requirement, facts, appliance)


def assert_not_a_pass(requirement: Requirement, backend: Backend, appliance: AppliancePrincipal | None = None) -> None:
    """Not met, or could not be checked: anything but a pass."""
    try:
        verdict = verdict_of(requirement, backend, appliance)
    except CheckError:
        return
    assert not verdict.met, f"false pass: {verdict.reason} (note: {verdict.note!r})"


def result(decision: str, action: str = "s3:GetObject", resource: str = "*", **extra: Any) -> dict[str, Any]:
    return {"EvalActionName": action, "EvalResourceName": resource, "EvalDecision": decision, **extra}


# === engine: trust policies evaluated with an empty request context ==============================


def test_trust_deny_on_principal_arn_of_the_appliance_denies() -> None:
    statements = [
        allow(Principal={"AWS": APPLIANCE_ACCOUNT}, Action="sts:AssumeRole"),
        deny(Principal="*", Action="sts:AssumeRole", Condition={"ArnEquals": {"aws:PrincipalArn": APPLIANCE_ROLE}}),
    ]
    assert trust_decision(statements) != "allowed"


def test_trust_allow_excluding_the_appliance_by_principal_arn_does_not_allow_it() -> None:
    statements = [
        allow(
            Principal={"AWS": APPLIANCE_ACCOUNT},
            Action="sts:AssumeRole",
            Condition={"ArnNotLike": {"aws:PrincipalArn": f"arn:aws:iam::{APPLIANCE_ACCOUNT}:role/Veeam*"}},
        )
    ]
    assert trust_decision(statements) != "allowed"


def test_trust_that_expired_by_current_time_does_not_allow() -> None:
    statements = [
        allow(
            Principal={"Service": "ec2.amazonaws.com"},
            Action="sts:AssumeRole",
            Condition={"DateLessThanIfExists": {"aws:CurrentTime": "2020-01-01T00:00:00Z"}},
        )
    ]
    assert trust_decision(statements, EC2) != "allowed"


def test_trust_principal_star_limited_to_the_appliance_account_allows_it() -> None:
    statements = [
        allow(
            Principal={"AWS": "*"},
            Action="sts:AssumeRole",
            Condition={"StringEquals": {"aws:PrincipalAccount": APPLIANCE_ACCOUNT}},
        )
    ]
    assert trust_decision(statements) == "allowed"


# === verdicts: trust ================================================================================


def test_verdict_trust_deny_by_principal_arn_is_not_a_pass() -> None:
    trust = trust_doc(
        allow(Principal={"AWS": APPLIANCE_ACCOUNT}, Action="sts:AssumeRole"),
        deny(Principal="*", Action="sts:AssumeRole", Condition={"ArnEquals": {"aws:PrincipalArn": APPLIANCE_ROLE}}),
    )
    ok = [result("allowed", "sts:AssumeRole", ROLE)]
    assert_not_a_pass(TRUST_APPLIANCE, FakeBackend(trust=trust, appliance_results=ok), APPLIANCE)


def test_a_verdict_reached_for_one_appliance_is_not_reused_for_another() -> None:
    """A role's verdicts are reached once and kept (the evidence bundle and each test read them):
    a trust met for the appliance named must not be read back for an appliance it does not trust."""
    trust = trust_doc(allow(Principal={"AWS": APPLIANCE_ROLE}, Action="sts:AssumeRole"))
    ok = [result("allowed", "sts:AssumeRole", ROLE)]
    backend = FakeBackend(trust=trust, appliance_results=ok)
    facts = gather(backend, RoleRef.parse(ROLE), requirement_set(TRUST_APPLIANCE), APPLIANCE)
    assert judge(TRUST_APPLIANCE, facts, APPLIANCE).met

    other = AppliancePrincipal.parse(f"arn:aws:iam::{APPLIANCE_ACCOUNT}:role/SomeoneElse")
    try:
        verdict = judge(TRUST_APPLIANCE, facts, other)
    except CheckError:
        return
    assert not verdict.met, f"false pass: {verdict.reason}"


def test_verdict_trust_empty_appliance_side_answer_is_not_a_pass() -> None:
    assert_not_a_pass(TRUST_APPLIANCE, FakeBackend(appliance_results=[]), APPLIANCE)


def test_verdict_trust_appliance_side_answer_for_another_action_is_not_a_pass() -> None:
    answer = [result("allowed", "sts:TagSession", ROLE)]
    assert_not_a_pass(TRUST_APPLIANCE, FakeBackend(appliance_results=answer), APPLIANCE)


def test_verdict_trust_contradictory_appliance_side_answers_are_not_a_pass() -> None:
    answer = [result("allowed", "sts:AssumeRole", ROLE), result("explicitDeny", "sts:AssumeRole", ROLE)]
    assert_not_a_pass(TRUST_APPLIANCE, FakeBackend(appliance_results=answer), APPLIANCE)


def test_verdict_trust_failed_appliance_side_check_is_not_a_pass() -> None:
    error = CheckError("SimulatePrincipalPolicy: access denied to the verifying identity")
    assert_not_a_pass(TRUST_APPLIANCE, FakeBackend(appliance_results=error), APPLIANCE)


def test_verdict_trust_explicit_deny_in_trust_fails() -> None:
    trust = trust_doc(
        allow(Principal={"Service": "ec2.amazonaws.com"}, Action="sts:AssumeRole"),
        deny(Principal={"Service": "ec2.amazonaws.com"}, Action="sts:*"),
    )
    assert not verdict_of(TRUST_EC2, FakeBackend(trust=trust)).met


def test_verdict_trust_without_sts_assume_role_action_fails() -> None:
    trust = trust_doc(allow(Principal={"Service": "ec2.amazonaws.com"}, Action="sts:AssumeRoleWithWebIdentity"))
    assert not verdict_of(TRUST_EC2, FakeBackend(trust=trust)).met


def test_verdict_trust_not_principal_is_broken() -> None:
    trust = trust_doc(deny(NotPrincipal={"Service": "ec2.amazonaws.com"}, Action="sts:AssumeRole"))
    with pytest.raises(CheckError):
        verdict_of(TRUST_EC2, FakeBackend(trust=trust))


def test_verdict_trust_dangling_unique_id_never_matches() -> None:
    trust = trust_doc(allow(Principal={"AWS": "AROAABCDEFGHIJKLMNOPQ"}, Action="sts:AssumeRole"))
    verdict = verdict_of(TRUST_APPLIANCE, FakeBackend(trust=trust), APPLIANCE)
    assert not verdict.met and "AROAABCDEFGHIJKLMNOPQ" in verdict.reason


def test_verdict_trust_conditional_service_principal_fails() -> None:
    trust = trust_doc(
        allow(
            Principal={"Service": "ec2.amazonaws.com"},
            Action="sts:AssumeRole",
            Condition={"StringEquals": {"aws:SourceAccount": ACCOUNT}},
        )
    )
    assert not verdict_of(TRUST_EC2, FakeBackend(trust=trust)).met


# === verdicts: permissions from odd SimulatePrincipalPolicy answers ==================================


def test_duplicate_results_with_different_decisions_are_not_a_pass() -> None:
    answer = [result("explicitDeny"), result("allowed")]
    assert_not_a_pass(GET_OBJECT, FakeBackend(answer))


def test_resource_specific_allowed_under_top_level_scp_deny_is_not_a_pass() -> None:
    answer = [
        result(
            "implicitDeny",
            OrganizationsDecisionDetail={"AllowedByOrganizations": False},
            ResourceSpecificResults=[{"EvalResourceName": "*", "EvalResourceDecision": "allowed"}],
        )
    ]
    assert_not_a_pass(GET_OBJECT, FakeBackend(answer))


def test_resource_specific_result_for_another_resource_is_not_a_pass() -> None:
    answer = [
        result(
            "explicitDeny",
            ResourceSpecificResults=[
                {"EvalResourceName": "*", "EvalResourceDecision": "explicitDeny"},
                {"EvalResourceName": "arn:aws:s3:::other/*", "EvalResourceDecision": "allowed"},
            ],
        )
    ]
    assert_not_a_pass(GET_OBJECT, FakeBackend(answer))


# The harness reads only the answers a verdict needs out of ResourceArns' cross product (each action
# on ``*`` and its own resource types); what it leaves unread must never make an answer kinder.

OBJECT_ARN = "arn:aws:s3:::example/example"
QUEUE_ARN = f"arn:aws:sqs:us-east-1:{ACCOUNT}:example"  # what the unread answers are about


def test_unread_answers_still_count_towards_the_top_level_deny() -> None:
    """An SCP's deny sits only in the top level (2026): it applies to the answers read, whatever else was asked."""
    answer = [
        result(
            "explicitDeny",
            ResourceSpecificResults=[
                {"EvalResourceName": r, "EvalResourceDecision": "allowed"} for r in ("*", OBJECT_ARN, QUEUE_ARN)
            ],
        )
    ]
    request = SimulationRequest(
        ROLE, ("s3:GetObject",), ("*", OBJECT_ARN, QUEUE_ARN), wanted=frozenset({("s3:getobject", "*")})
    )
    read = request.read(answer)
    assert [(r.resource, r.decision) for r in read] == [("*", "explicitDeny")]
    assert_not_a_pass(GET_OBJECT, FakeBackend(answer))


def test_a_wanted_answer_missing_from_the_reply_is_broken() -> None:
    """AWS answered other resources but not one the verdict reads: broken, never judged on the rest."""
    send = Requirement("permission:sqs:SendMessage", "permission", "s", "critical", action="sqs:SendMessage")
    attach = Requirement("permission:ec2:AttachVolume", "permission", "s", "critical", action="ec2:AttachVolume")
    (queue,) = representative_arns("sqs:SendMessage", partition="aws", region="us-east-1", account=ACCOUNT)
    attached = representative_arns("ec2:AttachVolume", partition="aws", region="us-east-1", account=ACCOUNT)
    instance = attached[0]
    answer = [
        result(
            "allowed",
            action="sqs:SendMessage",
            # Its own queue is not answered; an instance (asked for ec2:AttachVolume) is.
            ResourceSpecificResults=[{"EvalResourceName": instance, "EvalResourceDecision": "allowed"}],
        ),
        result(
            "allowed",
            action="ec2:AttachVolume",
            ResourceSpecificResults=[{"EvalResourceName": r, "EvalResourceDecision": "allowed"} for r in attached],
        ),
    ]
    facts = gather(FakeBackend(answer), RoleRef.parse(ROLE), requirement_set(send, attach), None)
    with pytest.raises(CheckError, match=f"returned no result for sqs:SendMessage on {queue}"):
        judge(send, facts, None)


def test_an_answer_about_a_resource_not_asked_is_refused_even_when_unread() -> None:
    answer = [
        result(
            "allowed",
            ResourceSpecificResults=[
                {"EvalResourceName": "*", "EvalResourceDecision": "allowed"},
                {"EvalResourceName": "arn:aws:s3:::someone-else/x", "EvalResourceDecision": "allowed"},
            ],
        )
    ]
    request = SimulationRequest(ROLE, ("s3:GetObject",), ("*",), wanted=frozenset({("s3:getobject", "*")}))
    assert {r.resource for r in request.read(answer)} == {"*", "arn:aws:s3:::someone-else/x"}
    assert_not_a_pass(GET_OBJECT, FakeBackend(answer))


def test_an_unread_resource_in_the_older_dialect_is_skipped_but_a_read_deny_is_kept() -> None:
    answer = [
        result("allowed", resource="*"),
        result("explicitDeny", resource=OBJECT_ARN),
        result("allowed", resource=QUEUE_ARN),
    ]
    request = SimulationRequest(
        ROLE,
        ("s3:GetObject",),
        ("*", OBJECT_ARN, QUEUE_ARN),
        wanted=frozenset({("s3:getobject", "*"), ("s3:getobject", OBJECT_ARN)}),
    )
    assert [(r.resource, r.decision) for r in request.read(answer)] == [("*", "allowed"), (OBJECT_ARN, "explicitDeny")]


def test_allowed_but_not_allowed_by_boundary_is_not_a_pass() -> None:
    answer = [result("allowed", PermissionsBoundaryDecisionDetail={"AllowedByPermissionsBoundary": False})]
    assert_not_a_pass(GET_OBJECT, FakeBackend(answer))


def test_allowed_but_not_allowed_by_organizations_is_not_a_pass() -> None:
    answer = [result("allowed", OrganizationsDecisionDetail={"AllowedByOrganizations": False})]
    assert_not_a_pass(GET_OBJECT, FakeBackend(answer))


def test_malformed_resource_specific_result_breaks_only_the_permission() -> None:
    answer = [result("allowed", ResourceSpecificResults=[{"EvalResourceName": "*"}])]
    backend = FakeBackend(
        answer, trust=trust_doc(allow(Principal={"Service": "ec2.amazonaws.com"}, Action="sts:AssumeRole"))
    )
    requirements = requirement_set(GET_OBJECT, TRUST_EC2)
    facts = gather(backend, RoleRef.parse(ROLE), requirements, None)
    assert judge(TRUST_EC2, facts, None).met
    with pytest.raises(CheckError):
        judge(GET_OBJECT, facts, None)


def test_decision_in_another_case_is_broken() -> None:
    with pytest.raises(CheckError):
        verdict_of(GET_OBJECT, FakeBackend([result("Allowed")]))


def test_missing_action_result_is_broken() -> None:
    with pytest.raises(CheckError):
        verdict_of(GET_OBJECT, FakeBackend([result("allowed", action="s3:PutObject")]))


def test_action_name_case_is_matched_case_insensitively() -> None:
    assert verdict_of(GET_OBJECT, FakeBackend([result("allowed", action="S3:GETOBJECT")])).met


def test_simulation_failure_is_broken() -> None:
    class Failing(FakeBackend):
        def answer(self, request: SimulationRequest, evidence_key: str) -> list[SimulationResult]:
            raise CheckError("SimulatePrincipalPolicy: throttled")

    with pytest.raises(CheckError):
        verdict_of(GET_OBJECT, Failing())


# === verdicts: instance profiles ======================================================================


def test_instance_profile_list_error_is_broken() -> None:
    with pytest.raises(CheckError):
        verdict_of(INSTANCE_PROFILE, FakeBackend(profiles=CheckError("ListInstanceProfilesForRole: throttled")))


def test_no_instance_profile_fails() -> None:
    assert not verdict_of(INSTANCE_PROFILE, FakeBackend(profiles=[])).met


def test_instance_profile_holding_another_role_is_not_a_pass() -> None:
    other = InstanceProfile("p", f"arn:aws:iam::{ACCOUNT}:instance-profile/p", ("SomeOtherRole",))
    assert_not_a_pass(INSTANCE_PROFILE, FakeBackend(profiles=[other]))


# === engine: permission decisions ====================================================================


def test_unknown_condition_operator_is_rejected() -> None:
    with pytest.raises(PolicyError):
        policy([allow(Action="*", Resource="*", Condition={"StringEqualz": {"aws:username": "x"}})])


def test_if_exists_on_null_is_rejected() -> None:
    with pytest.raises(PolicyError):
        policy([allow(Action="*", Resource="*", Condition={"NullIfExists": {"aws:username": "true"}})])


def test_deny_with_not_action_denies_everything_else() -> None:
    statements = [allow(Action="*", Resource="*"), deny(NotAction="s3:*", Resource="*")]
    assert decide(statements, "ec2:DeleteSnapshot") == "explicitDeny"


def test_deny_with_not_resource_denies_other_resources() -> None:
    statements = [allow(Action="*", Resource="*"), deny(Action="s3:*", NotResource="arn:aws:s3:::ok/*")]
    assert decide(statements, "s3:GetObject", "arn:aws:s3:::other/key") == "explicitDeny"


def test_question_mark_wildcard_in_action() -> None:
    assert decide([allow(Action="ec2:Describe?nstances", Resource="*")], "ec2:DescribeInstances") == "allowed"
    assert decide([allow(Action="ec2:Describe?nstances", Resource="*")], "ec2:DescribeXXnstances") != "allowed"


def test_resources_are_case_sensitive() -> None:
    assert (
        decide([allow(Action="s3:*", Resource="arn:aws:s3:::Bucket/*")], "s3:GetObject", "arn:aws:s3:::bucket/k")
        != "allowed"
    )


def test_unresolved_variable_in_resource_matches_nothing() -> None:
    statements = [allow(Action="s3:*", Resource="arn:aws:s3:::b/${aws:username}/*")]
    assert decide(statements, "s3:GetObject", "arn:aws:s3:::b/x/y") != "allowed"


def test_version_2008_variables_are_literal() -> None:
    identity = policy([allow(Action="s3:*", Resource="arn:aws:s3:::b/${aws:username}")], version="2008-10-17")
    policies = PolicySet(identity=(identity,), principal_arn=ROLE)
    evaluation = simulate(policies, ["s3:GetObject"], ["arn:aws:s3:::b/bob"], Context.of({"aws:username": "bob"}))
    assert evaluation[0].decision != "allowed"


def test_every_scp_level_must_allow() -> None:
    root = (policy([allow(Action="*", Resource="*")], "scp"),)
    ou = (policy([allow(Action="s3:*", Resource="*")], "scp"),)
    assert decide([allow(Action="*", Resource="*")], "ec2:DeleteSnapshot", scps=(root, ou)) == "implicitDeny"


def test_boundary_without_allow_and_boundary_deny() -> None:
    everything = [allow(Action="*", Resource="*")]
    narrow = policy([allow(Action="s3:*", Resource="*")], "boundary")
    assert decide(everything, "ec2:DeleteSnapshot", boundary=narrow) == "implicitDeny"
    denying = policy([allow(Action="*", Resource="*"), deny(Action="ec2:*", Resource="*")], "boundary")
    assert decide(everything, "ec2:DeleteSnapshot", boundary=denying) == "explicitDeny"


def test_trust_action_forms() -> None:
    for action in ("sts:AssumeRole", "sts:*", "sts:AssumeRole*", "STS:assumerole", "*"):
        statements = [allow(Principal={"Service": "ec2.amazonaws.com"}, Action=action)]
        assert trust_decision(statements, EC2) == "allowed", action


def test_not_principal_in_trust_is_rejected() -> None:
    with pytest.raises(PolicyError):
        policy([deny(NotPrincipal={"AWS": APPLIANCE_ACCOUNT}, Action="sts:AssumeRole")], "trust")


# === snapshot backend: what simulating Resource "*" cannot see =========================================


def _details(role_policy: dict[str, Any], trust: dict[str, Any]) -> dict[str, Any]:
    return {
        "UserDetailList": [],
        "GroupDetailList": [],
        "Policies": [],
        "RoleDetailList": [
            {
                "Path": "/",
                "RoleName": "Worker",
                "RoleId": "AROAWORKEREXAMPLE0001",
                "Arn": ROLE,
                "CreateDate": "2024-01-01T00:00:00Z",
                "AssumeRolePolicyDocument": trust,
                "RolePolicyList": [{"PolicyName": "inline", "PolicyDocument": role_policy}],
                "AttachedManagedPolicies": [],
                "InstanceProfileList": [
                    {
                        "Path": "/",
                        "InstanceProfileName": "Worker",
                        "InstanceProfileId": "AIPAWORKEREXAMPLE0001",
                        "Arn": f"arn:aws:iam::{ACCOUNT}:instance-profile/Worker",
                        "CreateDate": "2024-01-01T00:00:00Z",
                        "Roles": [],
                    }
                ],
            }
        ],
    }


DELETE_SNAPSHOT = Requirement(
    "permission:ec2:DeleteSnapshot", "permission", "s", "critical", action="ec2:DeleteSnapshot"
)
SNAPSHOT_SCOPED_DENY = {
    "Version": "2012-10-17",
    "Statement": [
        allow(Action="*", Resource="*"),
        deny(Action="ec2:DeleteSnapshot", Resource="arn:aws:ec2:*:*:snapshot/*"),
    ],
}


def test_resource_scoped_deny_is_not_a_pass(tmp_path: Path) -> None:
    file = tmp_path / "snapshot.json"
    file.write_text(json.dumps(_details(SNAPSHOT_SCOPED_DENY, ACCOUNT_TRUST)))
    assert_not_a_pass(DELETE_SNAPSHOT, SnapshotBackend(file))


def test_allow_expired_by_current_time_is_not_a_pass(tmp_path: Path) -> None:
    expired = {
        "Version": "2012-10-17",
        "Statement": [
            allow(
                Action="ec2:DeleteSnapshot",
                Resource="*",
                Condition={"DateLessThanIfExists": {"aws:CurrentTime": "2020-01-01T00:00:00Z"}},
            )
        ],
    }
    file = tmp_path / "snapshot.json"
    file.write_text(json.dumps(_details(expired, ACCOUNT_TRUST)))
    assert_not_a_pass(DELETE_SNAPSHOT, SnapshotBackend(file))


# === the suite end to end ==================================================================================

REQUIREMENTS_YAML = """\
id: review
title: review
version: "1"
source: {url: "https://example.invalid", product: p, product_build: "1", page_updated: "2024-01-01"}
epic: e
feature: f
requirements:
  - {id: trust:appliance, kind: trust, principal: appliance, story: "1. appliance may assume"}
  - {kind: permissions, story: "2. delete snapshots", actions: [ec2:DeleteSnapshot]}
"""


def test_suite_does_not_pass_a_role_aws_would_deny(tmp_path: Path) -> None:
    trust = trust_doc(
        allow(Principal={"AWS": APPLIANCE_ACCOUNT}, Action="sts:AssumeRole"),
        deny(Principal="*", Action="sts:AssumeRole", Condition={"ArnEquals": {"aws:PrincipalArn": APPLIANCE_ROLE}}),
    )
    snapshot = tmp_path / "snapshot.json"
    snapshot.write_text(json.dumps(_details(SNAPSHOT_SCOPED_DENY, trust)))
    requirements = tmp_path / "review.yaml"
    requirements.write_text(REQUIREMENTS_YAML)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "AWS_"))}
    env.update(AWS_ENDPOINT_URL="http://127.0.0.1:9", AWS_ACCESS_KEY_ID="x", AWS_SECRET_ACCESS_KEY="x")
    command = [
        sys.executable, "-m", "pytest", str(SUITE_DIR), "-p", "no:cacheprovider", "-rA",
        "--snapshot", str(snapshot), "--role-arn", ROLE, "--appliance-principal", APPLIANCE_ROLE,
        "--requirements", str(requirements), "--evidence-dir", str(tmp_path / "evidence"),
    ]  # fmt: skip
    run = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert "PASSED" not in run.stdout, run.stdout[-3000:]
    assert run.returncode != 0
