"""The region-conditioned role, live on the local endpoint: per role, and in fleet mode.

A role allows all 82 FLR actions only under ``StringEquals aws:RequestedRegion eu-west-1`` (an
attached customer managed policy, next to an unrelated inline policy); another role allows them
everywhere. Both are verified in us-east-1 through a counting proxy. Each failure of the first names
the statement, the key and both values, and its fix does not add the action; the per-role run reads
the failing role's policies (once each, read-only) and none of the passing role's; fleet mode reads
none, since the account's policies are already in hand.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support import proxy as fp
from tests.support.suite_run import SuiteRun, run_suite, start_endpoint_process, stop_process
from tests.verdicts.test_region_conditioned import region_bound_policy
from verification.requirements import load_requirement_set
from verification.scope.regions import global_region

ACCOUNT = "123456789012"  # moto's own: the per-role run uses the endpoint's default credentials
BOUND, OPEN = "RegionBound", "Everywhere"
ACTIONS = list(load_requirement_set().actions)
MANAGED_ARN = f"arn:aws:iam::{ACCOUNT}:policy/RegionOnly"
#: The reads that explain a failing role (all optional in fixtures/verifier-policy.json).
EXPLAINING = ("ListRolePolicies", "GetRolePolicy", "ListAttachedRolePolicies", "GetPolicy", "GetPolicyVersion")


def role(name: str, inline: dict[str, Any], attached: list[str]) -> dict[str, Any]:
    trust = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}],
    }
    return {
        "Path": "/",
        "RoleName": name,
        "RoleId": f"AROA{name.upper()}",
        "Arn": f"arn:aws:iam::{ACCOUNT}:role/{name}",
        "CreateDate": "2026-11-01T00:00:00Z",
        "AssumeRolePolicyDocument": trust,
        "InstanceProfileList": [],
        "RolePolicyList": [{"PolicyName": "Extras", "PolicyDocument": inline}],
        "AttachedManagedPolicies": [{"PolicyName": arn.rsplit("/", 1)[-1], "PolicyArn": arn} for arn in attached],
        "Tags": [],
    }


@pytest.fixture(scope="module")
def endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    folder = tmp_path_factory.mktemp("region-bound")
    extras = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "s3:ListAllMyBuckets", "Resource": "*"}],
    }
    everywhere = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": ACTIONS, "Resource": "*"}]}
    seed = {
        "UserDetailList": [],
        "GroupDetailList": [],
        "RoleDetailList": [role(BOUND, extras, [MANAGED_ARN]), role(OPEN, everywhere, [])],
        "Policies": [
            {
                "PolicyName": "RegionOnly",
                "PolicyId": "ANPAREGIONONLY",
                "Arn": MANAGED_ARN,
                "Path": "/",
                "DefaultVersionId": "v1",
                "AttachmentCount": 1,
                "IsAttachable": True,
                "CreateDate": "2026-11-01T00:00:00Z",
                "UpdateDate": "2026-11-01T00:00:00Z",
                "PolicyVersionList": [
                    {
                        "Document": region_bound_policy(ACTIONS),
                        "VersionId": "v1",
                        "IsDefaultVersion": True,
                        "CreateDate": "2026-11-01T00:00:00Z",
                    }
                ],
            }
        ],
    }
    path = folder / "seed.json"
    path.write_text(json.dumps(seed))
    process, url = start_endpoint_process(path)
    try:
        yield url
    finally:
        stop_process(process)


def verify(url: str, workdir: Path, *args: str) -> tuple[SuiteRun, list[fp.Call]]:
    with fp.FaultProxy(url, []) as proxy:
        run = run_suite(
            ["--endpoint-url", proxy.url, "--regions", "us-east-1", f"--alluredir={workdir / 'allure'}", *args],
            workdir,
            timeout=600,
        )
    assert run.returncode in (0, 1), run.summary()
    return run, [entry.call for entry in proxy.log]


def assert_explained(run: SuiteRun) -> None:
    """Every permission of the bound role fails naming the statement, the key and both values; the other passes."""
    bound = {k: o for k, o in run.of_role(f"{ACCOUNT}/{BOUND}").items() if "-permission:" in k}
    assert len(bound) == 82, run.summary()
    for test_id, outcome in bound.items():
        action = test_id.split("-permission:", 1)[1]
        assert outcome.status == "failed", (test_id, outcome)
        message = outcome.message
        assert "no statement allows it" not in message
        assert "the Allow in RegionOnly (lines " in message, message
        assert "aws:RequestedRegion is eu-west-1; this run judged us-east-1" in message, message
        assert "to a policy attached to the role" not in message
        assert f"the role already allows {action} under this condition" in message
        if not global_region(action.split(":")[0], "aws"):
            assert "verify with `--regions eu-west-1`" in message, message
    passing = {k: o for k, o in run.of_role(f"{ACCOUNT}/{OPEN}").items() if "-permission:" in k}
    assert len(passing) == 82 and {o.status for o in passing.values()} == {"passed"}


def test_per_role_run_reads_only_the_failing_roles_policies_once_each(endpoint: str, tmp_path: Path) -> None:
    arns = [f"arn:aws:iam::{ACCOUNT}:role/{name}" for name in (BOUND, OPEN)]
    run, calls = verify(endpoint, tmp_path, "--role-arn", arns[0], "--role-arn", arns[1], "--prefetch", "never")
    assert_explained(run)
    reads = [c for c in calls if c.action in EXPLAINING]
    assert not [c for c in reads if c.mentions(OPEN)], "a passing role's policies were read"
    # One list of each kind, one GetRolePolicy per inline policy, GetPolicy + GetPolicyVersion per attached one.
    assert Counter(c.action for c in reads) == Counter(EXPLAINING)
    assert {c.params.get("PolicyArn") for c in reads if c.action.startswith("GetPolicy")} == {MANAGED_ARN}


def test_fleet_mode_explains_from_the_policies_in_hand(endpoint: str, tmp_path: Path) -> None:
    targets = tmp_path / "targets.json"
    entry = {
        "account": ACCOUNT,
        "role_name": "*",
        "assume_role_arn": f"arn:aws:iam::{ACCOUNT}:role/RoleVerification",
    }
    targets.write_text(json.dumps({"targets": [entry]}))
    run, calls = verify(endpoint, tmp_path, "--targets", str(targets), "--prefetch", "always")
    assert_explained(run)
    assert "GetAccountAuthorizationDetails" in {c.action for c in calls}
    assert not [c for c in calls if c.action in ("ListRolePolicies", "GetRolePolicy", "ListAttachedRolePolicies")]
