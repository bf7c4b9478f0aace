"""Time to verify every role of a 500-resource CloudFormation template (no pytest). Target: under 2 s.

Builds a synthetic template in the shape CDK writes (roles with generated names, grants in
separate AWS::IAM::Policy resources with ``Roles: [Ref]``, ManagedPolicyArns joined over
``AWS::Partition``, instance profiles, shared managed policies, Fn::Sub, Fn::If on a parameter with
a Default, and unrelated resources), then reads it with the template backend and judges every
requirement of the bundled set for every role, as a ``--template`` run does. Printed with two
baselines measured in the same run: ``json.loads`` of the file, and the snapshot backend judging
the same roles from the accounts the template declares (an offline run of the deployed roles).

    python benchmarks/bench_template.py [--resources 500] [--roles N] [--yaml]

By default the template is as dense in roles as it can be (120 roles in 500 resources: every role
with its own policy, inline policy and instance profile), the worst case for this target.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

from verification.backends import create_backend
from verification.backends.snapshot import SnapshotBackend
from verification.backends.template import TemplateBackend
from verification.errors import CheckError
from verification.requirements import load_requirement_set
from verification.snapshot import Snapshot
from verification.verdicts import AppliancePrincipal, gather, judge

TARGET_SECONDS = 2.0
APPLIANCE = AppliancePrincipal.parse("111111111111")
ACCOUNT = "123456789012"


def synthetic_template(resources: int, actions: tuple[str, ...], roles: int | None = None) -> dict[str, Any]:
    """``resources`` resources: per role a Role, a Policy, a RolePolicy and an InstanceProfile (as many roles
    as fit unless ``roles`` is given), ten shared managed policies, and SQS queues for the rest."""
    shared = 10
    fit = max(1, (resources - 2 * shared) // 4)
    roles = min(roles or fit, fit)
    out: dict[str, Any] = {}
    for number in range(shared):
        out[f"Shared{number}"] = {
            "Type": "AWS::IAM::ManagedPolicy",
            "Properties": {
                "ManagedPolicyName": {"Fn::Sub": f"${{AWS::StackName}}-shared-{number}"},
                "PolicyDocument": {
                    "Version": "2012-10-17",
                    "Statement": [{"Effect": "Allow", "Action": list(actions[number::shared]), "Resource": "*"}],
                },
            },
        }
        out[f"Queue{number}"] = {"Type": "AWS::SQS::Queue", "Properties": {"QueueName": f"flr-{number}"}}
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"},
            {
                "Effect": "Allow",
                "Principal": {
                    "AWS": {"Fn::Join": ["", ["arn:", {"Ref": "AWS::Partition"}, ":iam::111111111111:root"]]}
                },
                "Action": "sts:AssumeRole",
            },
        ],
    }
    for number in range(roles):
        role = f"Worker{number:03d}Role"
        out[role] = {
            "Type": "AWS::IAM::Role",
            "Properties": {
                "AssumeRolePolicyDocument": trust,
                "ManagedPolicyArns": [
                    {"Ref": f"Shared{number % shared}"},
                    {
                        "Fn::Join": [
                            "",
                            ["arn:", {"Ref": "AWS::Partition"}, ":iam::aws:policy/AmazonSSMManagedInstanceCore"],
                        ]
                    },
                ],
            },
        }
        out[f"{role}DefaultPolicy"] = {
            "Type": "AWS::IAM::Policy",
            "Properties": {
                "PolicyName": f"{role}DefaultPolicy",
                "Roles": [{"Ref": role}],
                "PolicyDocument": {
                    "Version": "2012-10-17",
                    "Statement": [
                        {"Effect": "Allow", "Action": list(actions[: 60 + number % 23]), "Resource": "*"},
                        {
                            "Fn::If": [
                                "IsProd",
                                {"Effect": "Deny", "Action": "ec2:DeleteVolume", "Resource": "*"},
                                {"Ref": "AWS::NoValue"},
                            ]
                        },
                        {"Effect": "Allow", "Action": "iam:PassRole", "Resource": {"Fn::GetAtt": [role, "Arn"]}},
                    ],
                },
            },
        }
        out[f"{role}Rest"] = {
            "Type": "AWS::IAM::RolePolicy",
            "Properties": {
                "PolicyName": "rest",
                "RoleName": {"Ref": role},
                "PolicyDocument": {
                    "Version": "2012-10-17",
                    "Statement": [{"Effect": "Allow", "Action": list(actions[60:]), "Resource": "*"}],
                },
            },
        }
        out[f"{role}Profile"] = {"Type": "AWS::IAM::InstanceProfile", "Properties": {"Roles": [{"Ref": role}]}}
    for number in range(shared, shared + resources - len(out)):
        out[f"Queue{number}"] = {"Type": "AWS::SQS::Queue", "Properties": {"QueueName": f"flr-{number}"}}
    return {
        "Parameters": {"Stage": {"Type": "String", "Default": "dev", "AllowedValues": ["dev", "prod"]}},
        "Conditions": {"IsProd": {"Fn::Equals": [{"Ref": "Stage"}, "prod"]}},
        "Resources": out,
    }


def judge_all(backend: Any, refs: list[Any], requirements: Any) -> tuple[int, int]:
    """Judge every requirement for every role; (checks, passes)."""
    checks = passes = 0
    for ref in refs:
        facts = gather(backend, ref, requirements, APPLIANCE)
        for requirement in requirements.requirements:
            checks += 1
            with contextlib.suppress(CheckError):  # broken: counted as checked, not passed
                passes += judge(requirement, facts, APPLIANCE).met
    return checks, passes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--resources", type=int, default=500)
    parser.add_argument("--roles", type=int, default=None, help="roles among the resources (default: as many as fit)")
    parser.add_argument("--yaml", action="store_true", help="write the template as YAML instead of JSON")
    args = parser.parse_args()
    requirements = load_requirement_set()
    data = synthetic_template(args.resources, requirements.actions, args.roles)

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / ("template.yaml" if args.yaml else "template.json")
        path.write_text(yaml.safe_dump(data, sort_keys=False) if args.yaml else json.dumps(data, indent=1))
        raw = path.read_bytes()

        start = time.perf_counter()
        json.loads(raw) if not args.yaml else yaml.safe_load(raw)
        baseline = time.perf_counter() - start

        start = time.perf_counter()
        backend = create_backend("template", template=path, account=ACCOUNT)
        assert isinstance(backend, TemplateBackend)
        refs = backend.select()
        backend.check(refs)
        read = time.perf_counter() - start

        start = time.perf_counter()
        checks, passes = judge_all(backend, refs, requirements)
        judged = time.perf_counter() - start

        # The same roles as deployed: one snapshot of the accounts the template declares, judged offline.
        merged: dict[str, Any] = {"UserDetailList": [], "GroupDetailList": [], "RoleDetailList": [], "Policies": []}
        seen: set[str] = set()
        for ref in refs:
            details = backend.details_for(ref.arn)
            assert details is not None
            merged["RoleDetailList"] += details["RoleDetailList"]
            for policy in details["Policies"]:
                if policy["Arn"] not in seen:
                    seen.add(policy["Arn"])
                    merged["Policies"].append(policy)
        offline = SnapshotBackend(Snapshot(path, "", merged, account_id=ACCOUNT))
        start = time.perf_counter()
        offline_checks, offline_passes = judge_all(offline, refs, requirements)
        snapshot_time = time.perf_counter() - start

    total = read + judged
    count = len(data["Resources"])
    print(f"template: {count} resources, {len(refs)} roles, {len(raw) / 1e6:.2f} MB {'YAML' if args.yaml else 'JSON'}")
    print(
        f"requirement checks: {checks} ({passes} pass); offline, same roles: {offline_checks} ({offline_passes} pass)"
    )
    print(f"baseline {'yaml.safe_load' if args.yaml else 'json.loads'} of the file: {baseline:.3f} s")
    print(f"baseline snapshot backend, same roles:   {snapshot_time:.3f} s")
    print(f"read + worlds + accounts:               {read:.3f} s  ({read / baseline:.1f}x parse baseline)")
    print(f"judge every requirement:                {judged:.3f} s  ({judged / snapshot_time:.2f}x snapshot baseline)")
    print(f"total:                                  {total:.3f} s  ({total / snapshot_time:.2f}x snapshot baseline)")
    verdict = "within" if total < TARGET_SECONDS else "OVER"
    print(f"target < {TARGET_SECONDS:.1f} s for {count} resources: {verdict} ({total / TARGET_SECONDS:.0%} of target)")


if __name__ == "__main__":
    main()
