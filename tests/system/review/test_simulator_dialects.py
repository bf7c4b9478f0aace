"""AWS's simulator answers in two dialects (before and since July 2026): both read the same.

``answers/`` keeps one SimulatePrincipalPolicy answer of each dialect for the demo's misconfigured
role (see each file's ``_about``). The harness must give every requirement the same verdict and the
same one-line reason from either, and call neither contradictory because of its shape.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest

from tests.system.review.test_never_a_false_pass import FakeBackend, _per_resource, requirement_set
from verification.backends import RoleRef, SimulationRequest, SimulationResult
from verification.errors import CheckError
from verification.requirements import Requirement
from verification.verdicts import Verdict, gather, judge

ANSWERS = Path(__file__).parent / "answers"
ROLE = "arn:aws:iam::123456789012:role/VeeamFLRWorkerMisconfigured"
DIALECTS = ("pre-2026", "2026")


def permission(action: str) -> Requirement:
    return Requirement(f"permission:{action}", "permission", "s", "critical", action=action)


REQUIREMENTS = [
    permission(a) for a in ("ec2:DescribeInstances", "ec2:DeleteSnapshot", "kms:CreateGrant", "sqs:SendMessage")
]


def recorded(dialect: str) -> list[dict[str, Any]]:
    results: list[dict[str, Any]] = json.loads((ANSWERS / f"simulate-principal-policy-{dialect}.json").read_text())[
        "EvaluationResults"
    ]
    return results


class Recorded(FakeBackend):
    """Answers every simulation with the recorded ``EvaluationResults`` (recorded on ``*``, given for each resource)."""

    def answer(self, request: SimulationRequest, evidence_key: str) -> list[SimulationResult]:
        return request.read(_per_resource(self.results, request.resources))


def verdicts(results: Sequence[Mapping[str, Any]]) -> dict[str, Verdict]:
    facts = gather(Recorded(results), RoleRef.parse(ROLE), requirement_set(*REQUIREMENTS), None)
    return {r.id: judge(r, facts, None) for r in REQUIREMENTS}


@pytest.mark.parametrize("dialect", DIALECTS)
def test_each_dialect_reads_as_the_documented_reasons(dialect: str) -> None:
    got = {rid: (v.met, v.cause, v.reason) for rid, v in verdicts(recorded(dialect)).items()}
    assert got == {
        "permission:ec2:DescribeInstances": (True, "met", "allowed by VeeamFLRWorkerPartial (lines 3-14)"),
        "permission:ec2:DeleteSnapshot": (False, "explicit-deny", "explicitly denied by NoDeletes (lines 3-12)"),
        "permission:kms:CreateGrant": (
            False,
            "boundary",
            "not allowed by the permissions boundary of the role",
        ),
        "permission:sqs:SendMessage": (False, "scp", "denied by a service control policy"),
    }


def test_both_dialects_give_the_same_verdicts_and_remedies() -> None:
    old, new = (verdicts(recorded(d)) for d in DIALECTS)
    assert {k: (v.met, v.reason, v.remedy) for k, v in old.items()} == {
        k: (v.met, v.reason, v.remedy) for k, v in new.items()
    }


def test_an_scp_deny_since_2026_is_not_contradictory() -> None:
    """Top-level explicitDeny by an SCP over a per-resource "allowed": the 2026 shape, not a contradiction."""
    [scp] = [r for r in recorded("2026") if r["EvalActionName"] == "sqs:SendMessage"]
    [result] = SimulationResult.from_results([scp], ROLE)
    assert (result.decision, result.allowed_by_organizations) == ("explicitDeny", False)


def test_an_explicit_deny_naming_no_statement_is_the_organizations() -> None:
    """AWS never lists an SCP's statement: an unnamed explicit deny without organizations detail is an SCP."""
    answer = [{"EvalActionName": "sqs:SendMessage", "EvalResourceName": "*", "EvalDecision": "explicitDeny"}]
    requirement = permission("sqs:SendMessage")
    facts = gather(Recorded(answer), RoleRef.parse(ROLE), requirement_set(requirement), None)
    verdict = judge(requirement, facts, None)
    assert (verdict.met, verdict.cause) == (False, "scp")


@pytest.mark.parametrize(
    ("source_policy_id", "name"),
    [
        ("role_VeeamFLRWorkerMisconfigured_NoDeletes", "NoDeletes"),
        ("NoDeletes", "NoDeletes"),
        ("role_VeeamFLRWorkerMisconfigured_No_Deletes_2", "No_Deletes_2"),
        ("role_OtherRole_NoDeletes", "role_OtherRole_NoDeletes"),  # another role's prefix is not stripped
        ("PolicyInputList.1", "PolicyInputList.1"),
    ],
)
def test_inline_policy_ids_read_as_the_policy_name(source_policy_id: str, name: str) -> None:
    answer = [
        {
            "EvalActionName": "ec2:DeleteSnapshot",
            "EvalDecision": "explicitDeny",
            "MatchedStatements": [{"SourcePolicyId": source_policy_id, "StartPosition": {"Line": 1, "Column": 41}}],
        }
    ]
    [result] = SimulationResult.from_results(answer, ROLE)
    assert result.matched_statements[0]["SourcePolicyId"] == name


def test_an_allowed_that_the_organization_denies_is_still_contradictory() -> None:
    answer = [
        {
            "EvalActionName": "s3:GetObject",
            "EvalDecision": "allowed",
            "OrganizationsDecisionDetail": {"AllowedByOrganizations": False},
        }
    ]
    with pytest.raises(CheckError, match="contradictory"):
        SimulationResult.from_results(answer, ROLE)


@pytest.mark.parametrize("organizations_detail", [True, False], ids=["with-organizations-detail", "without"])
def test_an_scp_deny_over_allowed_resources_is_not_blamed_on_their_allow(organizations_detail: bool) -> None:
    """Since 2026 the top level's MatchedStatements is the union of the per-resource ones (never an SCP's).

    When the top level is stricter than every per-resource answer, none of those statements decided
    it: what the per-resource answers leave out, an SCP, did. The reason must not name the Allow
    that the per-resource answers matched as an explicit deny ("remove the Deny in ..." would send
    the administrator to the wrong policy).
    """
    [union] = [r for r in recorded("2026") if r["EvalActionName"] == "sqs:SendMessage"]
    assert union["MatchedStatements"] == union["ResourceSpecificResults"][0]["MatchedStatements"]
    if not organizations_detail:
        union.pop("OrganizationsDecisionDetail")
    requirement = permission("sqs:SendMessage")
    facts = gather(Recorded([union]), RoleRef.parse(ROLE), requirement_set(requirement), None)
    verdict = judge(requirement, facts, None)
    assert (verdict.met, verdict.cause, verdict.reason) == (False, "scp", "denied by a service control policy")
