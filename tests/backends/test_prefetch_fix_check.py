"""Fleet mode: a fix check is asked once for roles with equal policies, though each session names its role."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, cast

from verification.backends import Exchange, SimulationResult
from verification.backends.prefetch import PrefetchBackend
from verification.backends.simulation import read_results
from verification.backends.snapshot import SnapshotBackend
from verification.scope.context import session_context
from verification.snapshot import Snapshot

ACCOUNT = "111111111111"
FIX = json.dumps(
    {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "ec2:CopySnapshot", "Resource": "*"}]}
)


class CountingSimulator:
    """The live side: counts the simulations asked, answers allowed."""

    def __init__(self) -> None:
        self.exchanges: dict[str, list[Exchange]] = {}
        self.account = ACCOUNT
        self.endpoint_url = None
        self.asked: list[str] = []

    def simulate(self, principal_arn: str, actions: list[str], **kwargs: Any) -> list[SimulationResult]:
        self.asked.append(principal_arn)
        answers = [{"EvalActionName": a, "EvalResourceName": "*", "EvalDecision": "allowed"} for a in actions]
        return read_results(answers)


def fix_checks(policy: dict[str, Any]) -> list[str]:
    """Check the same fix for two roles holding ``policy``, each in its own session's context."""
    roles: list[dict[str, Any]] = []
    for number in (1, 2):
        roles.append(
            {
                "Arn": f"arn:aws:iam::{ACCOUNT}:role/Worker{number}",
                "RoleName": f"Worker{number}",
                "RoleId": f"AROAWORKER{number}",
                "Path": "/",
                "AssumeRolePolicyDocument": {"Version": "2012-10-17", "Statement": []},
                "RolePolicyList": [{"PolicyName": "worker", "PolicyDocument": policy}],
                "AttachedManagedPolicies": [],
                "InstanceProfileList": [],
            }
        )
    details = {"UserDetailList": [], "GroupDetailList": [], "RoleDetailList": roles, "Policies": []}
    simulator = CountingSimulator()
    backend = PrefetchBackend(cast(Any, simulator))
    backend._loaded, backend._offline = True, SnapshotBackend(Snapshot(Path("GAAD"), "0" * 64, details, ACCOUNT))
    for role in roles:
        context = {
            **session_context(role["Arn"], role_id=role["RoleId"]),
            "aws:RequestedRegion": ("us-east-1",),
        }
        backend.simulate(role["Arn"], ["ec2:CopySnapshot"], context=context, extra_policies=[FIX])
    return [arn.rsplit("/", 1)[-1] for arn in simulator.asked]


def test_roles_with_equal_policies_share_one_fix_check() -> None:
    policy = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "ec2:DescribeInstances", "Resource": "*"}],
    }
    assert fix_checks(policy) == ["Worker1"]


def test_a_policy_that_reads_the_roles_own_arn_is_asked_per_role() -> None:
    """Equal documents, different answers: the condition names one role, the session says which role asks."""
    condition = {"StringEquals": {"aws:PrincipalArn": f"arn:aws:iam::{ACCOUNT}:role/Worker1"}}
    statement = {"Effect": "Allow", "Action": "ec2:DescribeInstances", "Resource": "*", "Condition": condition}
    assert fix_checks({"Version": "2012-10-17", "Statement": [statement]}) == ["Worker1", "Worker2"]


def test_a_policy_variable_keeps_fix_checks_per_role() -> None:
    statement = {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::b/${aws:userid}/*"}
    assert fix_checks({"Version": "2012-10-17", "Statement": [statement]}) == ["Worker1", "Worker2"]
