"""The verifier's own policy: it grants what the harness calls, only reads, and the harness can verify it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.safety.test_readonly import called_operations
from tests.support.suite_run import ROOT, run_suite
from verification.endpoint import Endpoint, start_endpoint
from verification.requirements import load_requirement_set
from verification.safety import readonly

POLICY_FILE = ROOT / "fixtures" / "verifier-policy.json"
ACCOUNT = "123456789012"
COMPLETE, NO_SIMULATE = "HarnessVerifierComplete", "HarnessVerifierNoSimulate"


def policy_actions(document: dict[str, Any]) -> list[str]:
    return [action for statement in document["Statement"] for action in statement["Action"]]


def role(name: str, document: dict[str, Any]) -> dict[str, Any]:
    """A RoleDetailList entry holding ``document`` as its only (inline) policy."""
    return {
        "Path": "/",
        "RoleName": name,
        "RoleId": f"AROA{name.upper()[:17]}",
        "Arn": f"arn:aws:iam::{ACCOUNT}:role/{name}",
        "CreateDate": "2026-11-01T00:00:00Z",
        "AssumeRolePolicyDocument": {
            "Version": "2012-10-17",
            "Statement": [
                {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}, "Action": "sts:AssumeRole"}
            ],
        },
        "InstanceProfileList": [],
        "RolePolicyList": [{"PolicyName": "Verifier", "PolicyDocument": document}],
        "AttachedManagedPolicies": [],
        "Tags": [],
    }


@pytest.fixture(scope="module")
def endpoint() -> Iterator[Endpoint]:
    """A local endpoint with a role holding the shipped policy, and one holding it without SimulatePrincipalPolicy."""
    document = json.loads(POLICY_FILE.read_text())
    lacking = json.loads(POLICY_FILE.read_text())
    for statement in lacking["Statement"]:
        statement["Action"] = [a for a in statement["Action"] if a != "iam:SimulatePrincipalPolicy"]
    seed = {
        "UserDetailList": [],
        "GroupDetailList": [],
        "RoleDetailList": [role(COMPLETE, document), role(NO_SIMULATE, lacking)],
        "Policies": [],
    }
    with start_endpoint(0, seed=seed) as running:
        yield running


def test_policy_grants_every_iam_controlled_operation_the_harness_calls() -> None:
    """Each IAM and Organizations call in the source is granted (sts:GetCallerIdentity needs no grant)."""
    granted = set(policy_actions(json.loads(POLICY_FILE.read_text())))
    called = {f"{service}:{op}" for service, ops in called_operations().items() for op in ops if service != "sts"}
    assert called <= granted, f"add to fixtures/verifier-policy.json: {sorted(called - granted)}"


def test_policy_only_reads() -> None:
    """Every action the policy grants is on the read-only allowlist, spelled out in full (no wildcards)."""
    for action in policy_actions(json.loads(POLICY_FILE.read_text())):
        service, operation = action.split(":")
        assert "*" not in action
        assert readonly.is_allowed(service, operation), action


def test_requirement_set_requires_exactly_the_policy() -> None:
    """The verifier requirement set and the shipped policy name the same actions."""
    required = set(load_requirement_set("verifier").actions)
    assert required == set(policy_actions(json.loads(POLICY_FILE.read_text())))


def test_harness_verifies_its_own_verifier_role(endpoint: Endpoint, tmp_path: Path) -> None:
    """A role with the shipped policy meets every requirement; one without SimulatePrincipalPolicy fails just that."""
    complete, lacking = (f"arn:aws:iam::{ACCOUNT}:role/{name}" for name in (COMPLETE, NO_SIMULATE))
    run = run_suite(
        [
            *("--requirements", "verifier", "--role-arn", complete, "--role-arn", lacking),
            *("--endpoint-url", endpoint.url, f"--alluredir={tmp_path / 'allure'}"),
        ],
        tmp_path,
    )
    assert run.returncode == 1, run.summary()
    required = {f"permission:{a}" for a in load_requirement_set("verifier").actions}
    good = run.of_role(f"{ACCOUNT}/{COMPLETE}")
    assert {key.split("-", 1)[1] for key in good} == required
    assert {o.status for o in good.values()} == {"passed"}, good
    bad = run.of_role(f"{ACCOUNT}/{NO_SIMULATE}")
    failed = {key.split("-", 1)[1]: o for key, o in bad.items() if o.status != "passed"}
    assert list(failed) == ["permission:iam:SimulatePrincipalPolicy"]
    assert failed["permission:iam:SimulatePrincipalPolicy"].status == "failed"
    assert "implicitly denied" in failed["permission:iam:SimulatePrincipalPolicy"].message
    assert len(bad) == len(required)
