"""Double entry: a live answer checked against the engine's; the verdict follows AWS, a disagreement is a note."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any, cast

from verification.backends import Exchange, Role, RoleRef, SimulationResult
from verification.backends.prefetch import PrefetchBackend, second_opinions
from verification.backends.simulation import read_results
from verification.backends.snapshot import SnapshotBackend
from verification.errors import CheckError
from verification.requirements import load_requirement_set
from verification.scope.catalogue import representative_arns, touched_types
from verification.snapshot import Snapshot
from verification.verdicts import Check, RoleFacts, Verdict, judge
from verification.verdicts.double_entry import DISAGREE

ARN = "arn:aws:iam::111111111111:role/Worker"
ACTION = "ec2:CreateVolume"
POLICY = {
    "Version": "2012-10-17",
    "Statement": [
        {"Sid": "Grant", "Effect": "Allow", "Action": ACTION, "Resource": "*"},
        {"Sid": "NotThatOne", "Effect": "Deny", "Action": ACTION, "Resource": "arn:aws:ec2:*:*:volume/vol-1"},
    ],
}


#: What #13 asks about CreateVolume: Resource "*" and the catalogue's representative volume ARN.
RESOURCES = (
    "*",
    *representative_arns(
        ACTION, partition="aws", region="us-east-1", account="111111111111", touched=touched_types([ACTION])
    ),
)


def engine_answer() -> list[SimulationResult]:
    """The engine's answer for the role on each resource asked, through the snapshot backend (as fleet mode)."""
    role = {
        "Arn": ARN,
        "RoleName": "Worker",
        "RoleId": "AROAWORKER",
        "Path": "/",
        "AssumeRolePolicyDocument": {"Version": "2012-10-17", "Statement": []},
        "RolePolicyList": [{"PolicyName": "worker", "PolicyDocument": POLICY}],
        "AttachedManagedPolicies": [],
        "InstanceProfileList": [],
    }
    details = {"UserDetailList": [], "GroupDetailList": [], "RoleDetailList": [role], "Policies": []}
    backend = SnapshotBackend(Snapshot(Path("GAAD"), "0" * 64, details, "111111111111"))
    answers = backend.simulate(ARN, [ACTION], resources=RESOURCES)
    assert [a.resource for a in answers] == list(RESOURCES)
    return answers


def as_aws(answer: SimulationResult, **changes: Any) -> SimulationResult:
    """The simulator's answer to the same request: AWS's fields, no engine explanation."""
    return dataclasses.replace(answer, explanation=None, **changes)


def verdict_for(live: list[SimulationResult]) -> Verdict:
    """The verdict on the live answers, one check per resource asked (as ``_gather_permissions`` keeps them)."""
    requirement = next(r for r in load_requirement_set().by_kind("permission") if r.action == ACTION)
    facts = RoleFacts(RoleRef.parse(ARN), role=Role(ARN, "Worker", "111111111111", "AROAWORKER", "/", {}))
    facts.regions = ("us-east-1",)
    facts.checks[requirement.id] = [Check("us-east-1", answer.resource, answer) for answer in live]
    for answer in live:
        facts.simulations.setdefault(requirement.simulation_key, answer)
    return judge(requirement, facts, None)


def test_agreement_adds_the_engines_answer_and_keeps_the_verdict() -> None:
    engine = engine_answer()
    live = second_opinions([as_aws(e) for e in engine], engine)
    # Each resource's answer is checked against the engine's answer for that same resource.
    assert [(a.resource, a.second_opinion) for a in live] == [(e.resource, e) for e in engine]
    assert all(a.explanation is None for a in live)  # the verdict is read from AWS's fields alone
    verdict = verdict_for(live)
    assert verdict.met is True
    # The simulator cannot show a Deny on some resources on Resource "*": a note, not a different verdict.
    assert "Deny on some resources in worker" in verdict.note
    assert DISAGREE not in verdict.note and not verdict.disagrees


def test_a_disagreement_follows_aws_with_a_note_naming_both_and_both_answers_kept() -> None:
    engine = engine_answer()
    raw = {**engine[0].raw, "EvalDecision": "implicitDeny", "MatchedStatements": []}
    denied = as_aws(engine[0], decision="implicitDeny", matched_statements=(), raw=raw)
    live = second_opinions([denied, *(as_aws(e) for e in engine[1:])], engine)
    verdict = verdict_for(live)
    assert verdict.met is False and verdict.cause == "implicit-deny"
    assert verdict.note.startswith(f"{DISAGREE}: AWS's simulator says implicitDeny, the policy engine says allowed")
    assert verdict.disagrees  # the flag the summary counts
    evidence = verdict.evidence
    assert evidence["EvalDecision"] == "implicitDeny" and evidence["Engine"]["EvalDecision"] == "allowed"
    assert "worker" in json.dumps(evidence["Engine"]["answer"])


def test_a_disagreement_on_one_resource_is_compared_with_the_engines_answer_for_that_resource() -> None:
    """AWS denies the volume ARN only: the engine's answer on that ARN (allowed) is the one compared, not "*"."""
    engine = engine_answer()
    volume = engine[1]
    denied = as_aws(volume, decision="implicitDeny", matched_statements=())
    live = second_opinions([as_aws(engine[0]), denied], engine)
    assert live[1].second_opinion is volume and volume.resource == RESOURCES[1]
    verdict = verdict_for(live)
    assert verdict.met is False and f"on {RESOURCES[1]}" in verdict.reason
    assert verdict.note.startswith(f"{DISAGREE}: AWS's simulator says implicitDeny, the policy engine says allowed")
    assert verdict.disagrees  # the flag the summary counts


def test_a_live_answer_is_never_compared_with_the_engines_answer_for_another_resource() -> None:
    engine = engine_answer()
    elsewhere = as_aws(engine[0], resource="arn:aws:ec2:us-east-1:111111111111:volume/other", specific=True)
    (live,) = second_opinions([elsewhere], engine)
    assert live.second_opinion is None


def test_an_scp_decision_is_not_compared_the_engine_has_no_scps_here() -> None:
    engine = engine_answer()
    live = second_opinions([as_aws(e, decision="implicitDeny", allowed_by_organizations=False) for e in engine], engine)
    assert all(a.second_opinion is None for a in live)
    verdict = verdict_for(live)
    assert verdict.cause == "scp" and DISAGREE not in verdict.note and not verdict.disagrees


def test_an_engine_that_could_not_decide_leaves_aws_verdict_with_a_note() -> None:
    engine = engine_answer()
    live = second_opinions([as_aws(e) for e in engine], CheckError("the policy engine could not decide: bad document"))
    verdict = verdict_for(live)
    assert verdict.met is True and "could not decide" in verdict.note


class BatchedSimulator:
    """A 2026-dialect simulator: the appliance may not assume role c (its policy), and an SCP denies role b.

    Per-resource answers leave the SCP out; the top level is the strictest over every role asked.
    """

    def __init__(self) -> None:
        self.exchanges: dict[str, list[Exchange]] = {}
        self.account = "111111111111"
        self.endpoint_url = None
        self.asked: list[list[str]] = []

    def simulate(self, principal_arn: str, actions: list[str], **kwargs: Any) -> list[SimulationResult]:
        resources = list(kwargs["resources"])
        self.asked.append([r.rsplit("/", 1)[-1] for r in resources])
        own = {r: "explicitDeny" if r.endswith("/c") else "allowed" for r in resources}
        top = "explicitDeny" if any(r.endswith(("/b", "/c")) for r in resources) else "allowed"
        answer = {
            "EvalActionName": "sts:AssumeRole",
            "EvalResourceName": "*",
            "EvalDecision": top,
            "ResourceSpecificResults": [{"EvalResourceName": r, "EvalResourceDecision": d} for r, d in own.items()],
        }
        return read_results([answer])


def test_a_batched_appliance_side_never_reads_a_pass_from_another_roles_answer() -> None:
    """Role b is denied by an SCP that only the top level shows: it is asked alone and stays denied."""
    simulator = BatchedSimulator()
    roles = [f"arn:aws:iam::111111111111:role/{name}" for name in "abc"]
    appliance = "arn:aws:iam::111111111111:role/VeeamImpersonation"
    backend = PrefetchBackend(cast(Any, simulator), verified={appliance: roles})
    decisions = {
        arn.rsplit("/", 1)[-1]: backend.simulate(appliance, ["sts:AssumeRole"], resources=(arn,))[0].decision
        for arn in roles
    }
    assert decisions == {"a": "allowed", "b": "explicitDeny", "c": "explicitDeny"}
    assert simulator.asked == [["a", "b", "c"], ["a", "b"], ["a"], ["b"]]
