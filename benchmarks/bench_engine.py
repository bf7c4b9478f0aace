"""Decisions per second of the local policy engine, with a same-run baseline.

Decides the 82 actions of the bundled requirement set against a role with five policies that use
wildcards, conditions, NotAction and a deny, and prints the rate next to a trivial baseline (one
dict lookup per decision) measured in the same run, so the figure reads as a ratio on any machine.
Run: ``python benchmarks/bench_engine.py [--seconds 2] [--requirements NAME]`` (default: the FLR set;
``veeam-default-backup-restore`` is the largest, 450 actions). Target: 100,000 decisions/s on one core.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from verification.errors import InputError
from verification.policy import Context, PolicySet, Request, evaluate, parse_policy, simulate
from verification.policy.decide import evaluate_uncached
from verification.requirements import DEFAULT_SET, load_requirement_set

ROOT = Path(__file__).resolve().parent.parent
FALLBACK = Path(__file__).resolve().parent / "data" / "flr_worker_actions.txt"

POLICIES: list[dict[str, Any]] = [
    {
        "Version": "2012-10-17",
        "Statement": [
            {"Sid": "Describe", "Effect": "Allow", "Action": ["ec2:Describe*", "ec2:Get*"], "Resource": "*"},
            {
                "Sid": "Volumes",
                "Effect": "Allow",
                "Action": ["ec2:*Volume*", "ec2:*Snapshot*", "ec2:*NetworkInterface*", "ec2:*KeyPair"],
                "Resource": "*",
            },
        ],
    },
    {
        "Version": "2012-10-17",
        "Statement": {
            "Sid": "Instances",
            "Effect": "Allow",
            "Action": [
                "ec2:RunInstances",
                "ec2:St*Instances",
                "ec2:TerminateInstances",
                "ec2:CreateTags",
                "ec2:Modify*",
            ],
            "Resource": "*",
            "Condition": {"StringEquals": {"aws:RequestedRegion": ["us-east-1", "eu-west-1"]}},
        },
    },
    {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "Agents",
                "Effect": "Allow",
                "Action": ["ssm:*", "ssmmessages:*", "ec2messages:*"],
                "Resource": "*",
            },
            {"Sid": "Queues", "Effect": "Allow", "Action": "sqs:*", "Resource": "*"},
        ],
    },
    {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "IamRead",
                "Effect": "Allow",
                "Action": ["iam:Get*", "iam:List*", "iam:Simulate*"],
                "Resource": "*",
            },
            {
                "Sid": "Pass",
                "Effect": "Allow",
                "Action": "iam:PassRole",
                "Resource": "*",
                "Condition": {"StringEquals": {"iam:PassedToService": "ec2.amazonaws.com"}},
            },
            {
                "Sid": "Kms",
                "Effect": "Allow",
                "Action": ["kms:*Grant", "kms:Describe*", "kms:Get*", "kms:List*", "kms:ReEncrypt*"],
                "Resource": "*",
                "Condition": {"StringLike": {"kms:ViaService": "ec2.*.amazonaws.com"}},
            },
            {"Sid": "Quotas", "Effect": "Allow", "Action": "servicequotas:List*", "Resource": "*"},
        ],
    },
    {
        "Version": "2012-10-17",
        "Statement": [
            {"Sid": "NoKeys", "Effect": "Deny", "Action": ["iam:*AccessKey*", "iam:CreateUser"], "Resource": "*"},
            {
                "Sid": "TlsOnly",
                "Effect": "Deny",
                "NotAction": ["iam:*", "sts:*"],
                "Resource": "*",
                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
            },
        ],
    },
]


def load_actions(spec: str = DEFAULT_SET) -> list[str]:
    """The requirement set's distinct actions; the bundled copy of the FLR list when the set cannot be read."""
    try:
        return list(dict.fromkeys(load_requirement_set(spec).actions))
    except InputError:
        if spec != DEFAULT_SET:
            raise
    lines = FALLBACK.read_text(encoding="utf-8").splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


def rate(run_round: Callable[[], int], seconds: float) -> float:
    """Decisions per second of ``run_round`` (which returns how many it made), best of three."""
    best = 0.0
    for _ in range(3):
        done = 0
        start = time.perf_counter()
        deadline = start + seconds / 3
        while time.perf_counter() < deadline:
            done += run_round()
        best = max(best, done / (time.perf_counter() - start))
    return best


def main() -> None:
    """Measure and print the engine's rate against the baseline."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--seconds", type=float, default=3.0, help="time spent on each measurement")
    parser.add_argument("--requirements", default=DEFAULT_SET, help="requirement set spec (NAME[:PARTS], A+B)")
    args = parser.parse_args()

    actions = load_actions(args.requirements)
    policies = PolicySet(
        identity=tuple(
            parse_policy(doc, policy_id=f"policy-{i}", policy_type="identity") for i, doc in enumerate(POLICIES, 1)
        ),
        principal_arn="arn:aws:iam::111122223333:role/worker",
    )
    context = Context.of({"aws:RequestedRegion": "eu-west-1", "aws:SecureTransport": "true"})
    requests = [Request(action=a, context=context) for a in actions]
    table = {a: "allowed" for a in actions}

    def baseline() -> int:
        allowed = 0
        for action in actions:
            allowed += table[action] == "allowed"
        return len(actions)

    def engine() -> int:
        for request in requests:
            evaluate(request, policies)
        return len(requests)

    def via_simulate() -> int:
        return len(simulate(policies, actions, context=context))

    def uncached() -> int:
        for request in requests:
            evaluate_uncached(request, policies)
        return len(requests)

    decisions = {e.action: e.decision for e in simulate(policies, actions, context=context)}
    counts = {d: sum(1 for v in decisions.values() if v == d) for d in ("allowed", "explicitDeny", "implicitDeny")}
    base, fast, full = rate(baseline, args.seconds), rate(engine, args.seconds), rate(via_simulate, args.seconds)
    cold = rate(uncached, args.seconds)
    print(f"set: {args.requirements}  actions: {len(actions)}  policies: {len(POLICIES)}  decisions: {counts}")
    print(f"baseline (dict lookup per decision): {base:>12,.0f} /s")
    print(f"evaluate(request, policies):         {fast:>12,.0f} /s   baseline/engine = {base / fast:,.1f}x")
    print(f"simulate(policies, actions):         {full:>12,.0f} /s   baseline/engine = {base / full:,.1f}x")
    print(f"evaluate_uncached (no decision memo):{cold:>12,.0f} /s   baseline/engine = {base / cold:,.1f}x")
    print("(evaluate and simulate repeat the same requests: after the first round they read the decision memo)")
    print(f"target 100,000 /s: {'met' if fast >= 100_000 else 'NOT met'} (evaluate)")


if __name__ == "__main__":
    main()
