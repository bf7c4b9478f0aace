"""The local endpoint's answers in AWS's 2026 dialect, decided by the engine (issue #14.1)."""

from __future__ import annotations

from typing import Any

from verification.policy import Context, PolicySet, parse_policy, simulate
from verification.policy.explain import simulation_results

ROLE = "arn:aws:iam::111122223333:role/Worker"


def policy(policy_id: str, kind: str, *statements: dict[str, Any]) -> Any:
    return parse_policy({"Version": "2012-10-17", "Statement": list(statements)}, policy_id=policy_id, policy_type=kind)


ALLOW_ALL = policy("admin", "role", {"Effect": "Allow", "Action": "*", "Resource": "*"})


def answer(resources: tuple[str, ...], scps: tuple[tuple[Any, ...], ...] = ()) -> dict[str, Any]:
    policies = PolicySet(identity=(ALLOW_ALL,), scps=scps, principal_arn=ROLE)
    evaluations = simulate(policies, ["s3:GetObject"], resources, Context())
    [result] = simulation_results(evaluations, ["s3:GetObject"], principal_arn=ROLE)
    return result


def test_the_top_level_names_no_resource_that_was_asked_about() -> None:
    result = answer(("arn:aws:s3:::bucket/key",))
    assert result["EvalResourceName"] == "*"
    assert [r["EvalResourceName"] for r in result["ResourceSpecificResults"]] == ["arn:aws:s3:::bucket/key"]


def test_eval_decision_details_only_across_accounts() -> None:
    assert "EvalDecisionDetails" not in answer(("arn:aws:s3:::bucket/key",))  # no account in the ARN
    assert "EvalDecisionDetails" not in answer(("arn:aws:sqs:eu-west-1:111122223333:queue",))
    other = answer(("arn:aws:sqs:eu-west-1:444455556666:queue",))
    assert other["EvalDecisionDetails"] == {"IAM Policy": "allowed"}


def test_an_scp_deny_is_explicit_and_names_neither_its_statement_nor_its_keys() -> None:
    scp = policy(
        "region-lock",
        "scp",
        {"Effect": "Allow", "Action": "*", "Resource": "*"},
        {
            "Effect": "Deny",
            "Action": "*",
            "Resource": "*",
            "Condition": {"StringNotEquals": {"aws:RequestedRegion": ["eu-central-1"]}},
        },
    )
    result = answer(("*",), scps=((scp,),))
    assert result["EvalDecision"] == "explicitDeny"
    assert result["OrganizationsDecisionDetail"] == {"AllowedByOrganizations": False}
    assert result["MatchedStatements"] == []
    assert "aws:RequestedRegion" not in result["MissingContextValues"]
    [specific] = result["ResourceSpecificResults"]
    assert specific["MatchedStatements"] == [] and specific["MissingContextValues"] == []
