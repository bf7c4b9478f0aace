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


def test_each_action_keeps_its_own_answer_on_a_resource_that_actions_share() -> None:
    """Answers alike are written once; an answer must never carry one action's decision to another."""
    worker = policy(
        "worker",
        "role",
        {"Effect": "Allow", "Action": ["s3:GetObject", "s3:PutObject"], "Resource": "*"},
        {"Effect": "Deny", "Action": "s3:PutObject", "Resource": "arn:aws:s3:::bucket/locked"},
    )
    policies = PolicySet(identity=(worker,), principal_arn=ROLE)
    actions = ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"]
    resources = ("arn:aws:s3:::bucket/open", "arn:aws:s3:::bucket/locked")
    results = simulation_results(simulate(policies, actions, resources, Context()), actions, principal_arn=ROLE)
    decisions = {
        (r["EvalActionName"], s["EvalResourceName"]): s["EvalResourceDecision"]
        for r in results
        for s in r["ResourceSpecificResults"]
    }
    assert decisions == {
        ("s3:GetObject", "arn:aws:s3:::bucket/open"): "allowed",
        ("s3:GetObject", "arn:aws:s3:::bucket/locked"): "allowed",
        ("s3:PutObject", "arn:aws:s3:::bucket/open"): "allowed",
        ("s3:PutObject", "arn:aws:s3:::bucket/locked"): "explicitDeny",
        ("s3:DeleteObject", "arn:aws:s3:::bucket/open"): "implicitDeny",
        ("s3:DeleteObject", "arn:aws:s3:::bucket/locked"): "implicitDeny",
    }
    get, put, _ = results
    assert get["ResourceSpecificResults"][0] is put["ResourceSpecificResults"][0]  # written once
    assert (
        get["ResourceSpecificResults"][1]["MatchedStatements"] != put["ResourceSpecificResults"][1]["MatchedStatements"]
    )


def test_the_top_level_matched_statements_are_the_union_over_the_resources() -> None:
    """AWS since 2026: the top level lists every statement the per-resource answers matched, each once."""
    worker = policy(
        "worker",
        "role",
        {"Effect": "Allow", "Action": "s3:PutObject", "Resource": "*"},
        {"Effect": "Deny", "Action": "s3:PutObject", "Resource": "arn:aws:s3:::bucket/locked"},
    )
    policies = PolicySet(identity=(worker,), principal_arn=ROLE)
    resources = ("arn:aws:s3:::bucket/open", "arn:aws:s3:::bucket/locked", "arn:aws:s3:::bucket/other")
    [put] = simulation_results(simulate(policies, ["s3:PutObject"], resources, Context()), ["s3:PutObject"])
    per_resource = [s["MatchedStatements"] for s in put["ResourceSpecificResults"]]
    assert [len(m) for m in per_resource] == [1, 1, 1]
    assert put["EvalDecision"] == "explicitDeny"
    assert put["MatchedStatements"] == per_resource[0] + per_resource[1]
