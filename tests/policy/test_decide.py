"""The engine's shortcuts never change a decision: the memo, the service index and the batch plans.

``evaluate`` and ``simulate`` reuse decisions keyed on statement fingerprints and look statements
up through a per-service index and per-batch plans; ``evaluate_uncached`` decides from scratch.
Policy ids are reused across Hypothesis examples with different content, so a memo key that missed
something a decision reads would hand one example's answer to another.
"""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from tests.policy.test_properties import ACTIONS, RESOURCES, _set, layered, statements
from verification.policy import Context, PolicySet, Request, evaluate, parse_policy, simulate
from verification.policy.decide import evaluate_uncached

CONTEXTS = [Context(), Context.of({"aws:username": "alice"}), Context.of({"aws:username": "bob"})]
PRINCIPALS = [
    "arn:aws:iam::111122223333:role/worker",
    "arn:aws:iam::111122223333:role/other",
    "arn:aws:iam::444455556666:role/worker",
]
# Case variants and repeats: a batch may spell one action twice.
BATCH = [*ACTIONS, "S3:getobject", "s3:GetObject", "kms:Decrypt", "ec2:describeinstances"]


@st.composite
def resource_policies(draw: st.DrawFn) -> list[dict[str, Any]]:
    """A bucket policy naming a role, an account or everyone."""
    found = []
    for statement in draw(st.lists(statements(), min_size=1, max_size=3)):
        who = draw(st.sampled_from(["*", "111122223333", PRINCIPALS[0], PRINCIPALS[2]]))
        found.append({**statement, "Principal": who if who == "*" else {"AWS": who}})
    return found


@settings(max_examples=150, deadline=None)
@given(
    layers=layered(),
    bucket=st.none() | resource_policies(),
    principals=st.permutations(PRINCIPALS),
    actions=st.lists(st.sampled_from(BATCH), min_size=1, max_size=8),
)
def test_memoised_decisions_equal_fresh_ones(
    layers: dict[str, Any], bucket: list[dict[str, Any]] | None, principals: list[str], actions: list[str]
) -> None:
    base = _set(layers)
    resource = (
        parse_policy({"Version": "2012-10-17", "Statement": bucket}, policy_id="bucket", policy_type="resource")
        if bucket
        else None
    )
    # The same policies for several callers and contexts: each must get its own answer.
    for principal in principals:
        policies = PolicySet(
            identity=base.identity, boundary=base.boundary, scps=base.scps, resource=resource, principal_arn=principal
        )
        for context in CONTEXTS:
            fresh = [
                evaluate_uncached(Request(action=a, resource=r, context=context), policies)
                for a in actions
                for r in RESOURCES
            ]
            # Twice each: the second answer comes from the memo.
            for _ in range(2):
                assert simulate(policies, actions, RESOURCES, context) == fresh
                requests = [Request(action=a, resource=r, context=context) for a in actions for r in RESOURCES]
                assert [evaluate(request, policies) for request in requests] == fresh


@settings(max_examples=150, deadline=None)
@given(stmts=st.lists(statements(), min_size=1, max_size=6), batch=st.lists(st.sampled_from(BATCH), max_size=10))
def test_index_and_batch_plan_pick_the_statements_a_linear_scan_picks(
    stmts: list[dict[str, Any]], batch: list[str]
) -> None:
    policy = parse_policy({"Version": "2012-10-17", "Statement": stmts}, policy_id="p", policy_type="identity")
    lowered = tuple(a.lower() for a in batch)
    linear = [tuple(s for s in policy.statements if s.actions.matches(a) != s.not_action) for a in lowered]
    assert [policy.statements_for(a) for a in lowered] == linear
    assert list(policy.fingerprint_plan(lowered)) == [tuple(policy.tokens[s.index] for s in found) for found in linear]


def _role(username: str, principal: str) -> PolicySet:
    """One inline policy whose text (hence positions and id) is the same for every ``username`` of 5 letters."""
    document = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": "s3:GetObject",
                "Resource": "*",
                "Condition": {"StringEquals": {"aws:username": username}},
            }
        ],
    }
    return PolicySet(
        identity=(parse_policy(document, policy_id="worker", policy_type="role"),), principal_arn=principal
    )


def test_equal_positions_and_names_with_different_conditions_are_not_shared() -> None:
    context = Context.of({"aws:username": "alice"})
    alice, carol = _role("alice", PRINCIPALS[0]), _role("carol", PRINCIPALS[1])
    assert alice.identity[0].statements[0].matched == carol.identity[0].statements[0].matched
    assert simulate(alice, ["s3:GetObject"], context=context)[0].decision == "allowed"
    assert simulate(carol, ["s3:GetObject"], context=context)[0].decision == "implicitDeny"
    assert evaluate(Request("s3:GetObject", context=context), carol).decision == "implicitDeny"


def test_equal_statements_in_different_roles_share_one_decision() -> None:
    context = Context.of({"aws:username": "alice"})
    first = simulate(_role("alice", PRINCIPALS[0]), ["s3:GetObject"], context=context)[0]
    second = simulate(_role("alice", PRINCIPALS[1]), ["s3:GetObject"], context=context)[0]
    assert second is first and second.decision == "allowed"
