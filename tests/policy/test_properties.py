"""Properties of the decision that must hold for any policies, checked with Hypothesis.

Policies are drawn from a small vocabulary of actions and resources so that statements often
overlap; each property states what a user relies on when reading a decision.
"""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from verification.policy import Context, PolicySet, Request, evaluate, parse_policy
from verification.policy.parse import Policy

ACTIONS = ["s3:GetObject", "s3:PutObject", "s3:ListBucket", "ec2:DescribeInstances", "iam:PassRole", "sqs:SendMessage"]
ACTION_PATTERNS = [*ACTIONS, "s3:*", "s3:Get*", "ec2:Describe*", "iam:?assRole", "*", "sqs:*Message", "kms:*"]
RESOURCES = ["arn:aws:s3:::bucket/key", "arn:aws:s3:::bucket", "arn:aws:iam::111122223333:role/worker", "*"]
RESOURCE_PATTERNS = [
    "*",
    "arn:aws:s3:::bucket/*",
    "arn:aws:s3:::bucket",
    "arn:aws:s3:::*",
    "arn:aws:iam::*:role/w?rker",
]

Statement = dict[str, Any]


@st.composite
def statements(draw: st.DrawFn, effect: str | None = None) -> Statement:
    statement: Statement = {"Effect": effect or draw(st.sampled_from(["Allow", "Deny"]))}
    actions = draw(st.lists(st.sampled_from(ACTION_PATTERNS), min_size=1, max_size=3))
    statement["NotAction" if draw(st.booleans()) and draw(st.booleans()) else "Action"] = actions
    resources = draw(st.lists(st.sampled_from(RESOURCE_PATTERNS), min_size=1, max_size=2))
    statement["NotResource" if draw(st.integers(0, 4)) == 0 else "Resource"] = resources
    if draw(st.integers(0, 3)) == 0:
        statement["Condition"] = {"StringEquals": {"aws:username": draw(st.sampled_from(["alice", "bob"]))}}
    return statement


def _policy(stmts: list[Statement], policy_id: str, policy_type: str = "identity") -> Policy:
    return parse_policy({"Version": "2012-10-17", "Statement": stmts}, policy_id=policy_id, policy_type=policy_type)


@st.composite
def layered(draw: st.DrawFn, effect: str | None = None) -> dict[str, Any]:
    """Statement lists per layer: identity policies, an optional boundary, optional SCP levels."""
    one = statements(effect)
    return {
        "identity": draw(st.lists(st.lists(one, min_size=1, max_size=4), min_size=1, max_size=3)),
        "boundary": draw(st.none() | st.lists(one, min_size=1, max_size=3)),
        "scps": draw(st.lists(st.lists(one, min_size=1, max_size=2), max_size=2)),
    }


def _set(layers: dict[str, Any]) -> PolicySet:
    return PolicySet(
        identity=tuple(_policy(s, f"identity.{i}") for i, s in enumerate(layers["identity"])),
        boundary=_policy(layers["boundary"], "boundary", "boundary") if layers["boundary"] else None,
        scps=tuple((_policy(s, f"scp.{i}", "scp"),) for i, s in enumerate(layers["scps"])),
    )


requests = st.builds(
    Request,
    action=st.sampled_from(ACTIONS),
    resource=st.sampled_from(RESOURCES),
    context=st.sampled_from([Context(), Context.of({"aws:username": "alice"})]),
)


@settings(max_examples=200, deadline=None)
@given(layers=layered(), request=requests, data=st.data())
def test_statement_and_policy_order_never_change_the_decision(
    layers: dict[str, Any], request: Request, data: st.DataObject
) -> None:
    shuffled = {
        "identity": data.draw(st.permutations([data.draw(st.permutations(s)) for s in layers["identity"]])),
        "boundary": data.draw(st.permutations(layers["boundary"])) if layers["boundary"] else None,
        "scps": [data.draw(st.permutations(s)) for s in layers["scps"]],
    }
    assert evaluate(request, _set(shuffled)).decision == evaluate(request, _set(layers)).decision


def _recase(text: str, flips: list[bool]) -> str:
    return "".join(c.upper() if f else c.lower() for c, f in zip(text, flips, strict=False))


@settings(max_examples=200, deadline=None)
@given(layers=layered(), request=requests, data=st.data())
def test_action_case_never_matters(layers: dict[str, Any], request: Request, data: st.DataObject) -> None:
    """Neither the request's action nor the policy's action patterns are case-sensitive."""
    flips = st.lists(st.booleans(), min_size=40, max_size=40)
    recased = Request(
        action=_recase(request.action, data.draw(flips)), resource=request.resource, context=request.context
    )

    def recase_patterns(stmts: list[Statement]) -> list[Statement]:
        out = []
        for statement in stmts:
            key = "Action" if "Action" in statement else "NotAction"
            out.append({**statement, key: [_recase(a, data.draw(flips)) for a in statement[key]]})
        return out

    recased_layers = {
        "identity": [recase_patterns(s) for s in layers["identity"]],
        "boundary": recase_patterns(layers["boundary"]) if layers["boundary"] else None,
        "scps": [recase_patterns(s) for s in layers["scps"]],
    }
    expected = evaluate(request, _set(layers)).decision
    assert evaluate(recased, _set(layers)).decision == expected
    assert evaluate(request, _set(recased_layers)).decision == expected


@settings(max_examples=200, deadline=None)
@given(layers=layered(), request=requests, deny=statements(effect="Deny"), data=st.data())
def test_adding_a_deny_never_turns_a_deny_into_an_allow(
    layers: dict[str, Any], request: Request, deny: Statement, data: st.DataObject
) -> None:
    before = evaluate(request, _set(layers)).decision
    where = data.draw(st.integers(0, len(layers["identity"]) - 1))
    layers["identity"][where] = [*layers["identity"][where], deny]
    after = evaluate(request, _set(layers)).decision
    if before != "allowed":
        assert after != "allowed"
    if before == "explicitDeny":
        assert after == "explicitDeny"


@settings(max_examples=200, deadline=None)
@given(layers=layered(), request=requests, allow=statements(effect="Allow"), data=st.data())
def test_adding_an_identity_allow_never_turns_an_allow_into_a_deny(
    layers: dict[str, Any], request: Request, allow: Statement, data: st.DataObject
) -> None:
    before = evaluate(request, _set(layers)).decision
    where = data.draw(st.integers(0, len(layers["identity"]) - 1))
    layers["identity"][where] = [*layers["identity"][where], allow]
    if before == "allowed":
        assert evaluate(request, _set(layers)).decision == "allowed"


@settings(max_examples=200, deadline=None)
@given(layers=layered("Allow"), request=requests, layer=st.sampled_from(["identity", "boundary", "scp"]))
def test_an_explicit_deny_wins_against_any_mix_of_allows(layers: dict[str, Any], request: Request, layer: str) -> None:
    deny = {"Effect": "Deny", "Action": request.action, "Resource": "*"}
    if layer == "identity":
        layers["identity"][0] = [*layers["identity"][0], deny]
    elif layer == "boundary":
        layers["boundary"] = [*(layers["boundary"] or []), deny]
    else:
        layers["scps"] = [*layers["scps"], [deny]]
    result = evaluate(request, _set(layers))
    assert result.decision == "explicitDeny"
    assert result.explanation.layer == layer


@settings(max_examples=300, deadline=None)
@given(excluded=st.lists(st.sampled_from(ACTION_PATTERNS), min_size=1, max_size=3), request=requests)
def test_notaction_in_an_allow_grants_exactly_the_complement(excluded: list[str], request: Request) -> None:
    listed = PolicySet(identity=(_policy([{"Effect": "Allow", "Action": excluded, "Resource": "*"}], "a"),))
    complement = PolicySet(identity=(_policy([{"Effect": "Allow", "NotAction": excluded, "Resource": "*"}], "n"),))
    granted_by_list = evaluate(request, listed).decision == "allowed"
    granted_by_complement = evaluate(request, complement).decision == "allowed"
    assert granted_by_list != granted_by_complement
