"""Time to verify 1,000 roles from one snapshot with the engine alone (no pytest). Target: at most 2 s.

Builds a synthetic account (shared managed policies, per-role inline policies, some boundaries,
denies, wildcards, NotAction and conditions), writes it as a snapshot, then loads it and evaluates
every requirement of the bundled set for every role: the permissions via ``simulate``, both trusts
via ``evaluate_trust``, and instance-profile presence. Figures are printed with a baseline measured
in the same run (``json.loads`` of the same file) so that they compare across machines.

    python benchmarks/bench_snapshot.py [--roles 1000] [--requirements NAME]

``--requirements veeam-default-backup-restore`` measures the largest set (450 actions, four trusts).
"""

from __future__ import annotations

import argparse
import json
import random
import tempfile
import time
from pathlib import Path
from typing import Any

from verification.policy import Context, Principal, evaluate_trust, simulate
from verification.policy.account import Account
from verification.requirements import DEFAULT_SET, load_requirement_set
from verification.snapshot import load_snapshot

ACCOUNT = "123456789012"
APPLIANCE = Principal("AWS", f"arn:aws:iam::{ACCOUNT}:role/VeeamImpersonation")
TARGET_SECONDS = 2.0


def statement(effect: str, actions: list[str], *, negate: bool = False, condition: bool = False) -> dict[str, Any]:
    item: dict[str, Any] = {"Effect": effect, "NotAction" if negate else "Action": actions, "Resource": "*"}
    if condition:
        item["Condition"] = {"StringEquals": {"aws:RequestedRegion": ["eu-west-1", "us-east-1"]}}
    return item


def document(*statements: dict[str, Any]) -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": list(statements)}


def synthetic_account(roles: int, actions: tuple[str, ...], seed: int = 7) -> dict[str, Any]:
    """A merged authorization-details document with ``roles`` roles and 30 shared managed policies."""
    rng = random.Random(seed)
    services = sorted({a.split(":")[0] for a in actions})
    policies = []
    for number in range(30):
        picked = rng.sample(actions, 12)
        body = [statement("Allow", picked), statement("Allow", [f"{rng.choice(services)}:Describe*"])]
        if number % 5 == 0:
            body.append(statement("Deny", [rng.choice(actions)]))
        if number % 7 == 0:
            body.append(statement("Allow", [f"{rng.choice(services)}:*"], condition=True))
        policies.append(
            {
                "PolicyName": f"Shared{number}",
                "Arn": f"arn:aws:iam::{ACCOUNT}:policy/Shared{number}",
                "DefaultVersionId": "v2",
                "PolicyVersionList": [
                    {"Document": document(statement("Allow", ["*"])), "VersionId": "v1", "IsDefaultVersion": False},
                    {"Document": document(*body), "VersionId": "v2", "IsDefaultVersion": True},
                ],
            }
        )
    trust_appliance = {"Effect": "Allow", "Principal": {"AWS": APPLIANCE.id}, "Action": "sts:AssumeRole"}
    trust_ec2 = {"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}
    entries = []
    for number in range(roles):
        name = f"Worker{number:04d}"
        arn = f"arn:aws:iam::{ACCOUNT}:role/{name}"
        inline = document(
            statement("Allow", rng.sample(actions, 20)),
            statement("Deny", ["iam:*", "organizations:*"], negate=number % 3 == 0),
        )
        entry: dict[str, Any] = {
            "RoleName": name,
            "RoleId": f"AROA{number:017d}",
            "Arn": arn,
            "Path": "/",
            "AssumeRolePolicyDocument": {"Version": "2012-10-17", "Statement": [trust_appliance, trust_ec2]},
            "RolePolicyList": [{"PolicyName": "worker", "PolicyDocument": inline}],
            "AttachedManagedPolicies": [
                {"PolicyName": p["PolicyName"], "PolicyArn": p["Arn"]} for p in rng.sample(policies, 3)
            ],
            "InstanceProfileList": (
                [{"InstanceProfileName": name, "Arn": f"arn:aws:iam::{ACCOUNT}:instance-profile/{name}", "Roles": []}]
                if number % 4
                else []
            ),
        }
        if number % 10 == 0:
            boundary = policies[number % len(policies)]
            entry["PermissionsBoundary"] = {"PermissionsBoundaryArn": boundary["Arn"]}
        entries.append(entry)
    return {"UserDetailList": [], "GroupDetailList": [], "RoleDetailList": entries, "Policies": policies}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--roles", type=int, default=1000)
    parser.add_argument("--requirements", default=DEFAULT_SET, help="requirement set spec (NAME[:PARTS], A+B)")
    args = parser.parse_args()
    requirements = load_requirement_set(args.requirements)
    actions = tuple(dict.fromkeys(requirements.actions))
    trusts = [
        APPLIANCE if r.principal == "appliance" else Principal(*r.principal[0])
        for r in requirements.by_kind("trust")
        if r.principal is not None
    ]

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "snapshot.json"
        path.write_text(json.dumps(synthetic_account(args.roles, actions)))
        raw = path.read_bytes()

        start = time.perf_counter()
        json.loads(raw)
        baseline = time.perf_counter() - start

        start = time.perf_counter()
        snapshot = load_snapshot(path)
        account = Account(snapshot.details)
        loaded = time.perf_counter() - start

        start = time.perf_counter()
        allowed = checks = 0
        context = Context()
        for arn in account.role_arns:
            evaluations = simulate(account.policy_set_for(arn), actions, ("*",), context)
            trust = account.trust_policy(arn)
            verdicts = [e.decision == "allowed" for e in evaluations]
            verdicts += [evaluate_trust(trust, p, role_arn=arn).decision == "allowed" for p in trusts]
            verdicts.append(bool(account.role(arn).instance_profiles))
            allowed += sum(verdicts)
            checks += len(verdicts)
        evaluated = time.perf_counter() - start

    total = loaded + evaluated
    print(f"set: {args.requirements} ({len(actions)} actions, {len(trusts)} trusts)")
    print(f"snapshot: {args.roles} roles, {len(raw) / 1e6:.1f} MB, {checks} requirement checks ({allowed} pass)")
    print(f"baseline json.loads of the file: {baseline:.3f} s")
    print(f"load + check + account model:    {loaded:.3f} s  ({loaded / baseline:.1f}x baseline)")
    print(f"evaluate every requirement:      {evaluated:.3f} s  ({evaluated / baseline:.1f}x baseline)")
    print(f"total:                           {total:.3f} s  ({total / baseline:.1f}x baseline)")
    print(f"throughput:                      {args.roles / total:.0f} roles/s, {checks / total:,.0f} checks/s")
    verdict = "within" if total <= TARGET_SECONDS else "OVER"
    print(f"target <= {TARGET_SECONDS:.1f} s for 1,000 roles: {verdict} ({total / TARGET_SECONDS:.0%} of target)")


if __name__ == "__main__":
    main()
