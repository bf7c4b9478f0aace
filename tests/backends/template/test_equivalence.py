"""What a file declares is what the deployed role is judged by.

Each file's roles, with every open value given, are seeded into the local IAM endpoint (moto, over
HTTP, with its own validation), the account is exported as a snapshot, and the snapshot backend
judges the same roles. The template backend must reach the same verdict for every requirement:
outcome, reason, root cause, what to change, and the evidence.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from tests.support.sessions import assumed_session
from tests.support.suite_run import start_endpoint_process, stop_process
from tests.support.templates import APPLIANCE, CDK_JSON, CFN_YAML, FLR, PLAN_KNOWN, backend
from verification.backends.snapshot import SnapshotBackend
from verification.backends.template import TemplateBackend
from verification.endpoint.seed import seed_account
from verification.errors import CheckError
from verification.snapshot import load_snapshot
from verification.snapshot.export import export_snapshot
from verification.verdicts import RoleFacts, Scope, gather, judge

CASES: dict[str, tuple[Path, dict[str, Any], tuple[str, ...]]] = {
    "cloudformation": (
        CFN_YAML,
        {
            "account": "222222222222",
            "parameters": {"Stage": "prod", "LogBucket": "flr-logs", "ProtectedInstance": "i-0123456789abcdef0"},
        },
        ("WorkerRole", "ProdDenyRole", "UnknownDenyRole", "DeniedRole"),
    ),
    "cdk": (CDK_JSON, {"account": "333333333333", "region": "eu-west-1"}, ()),
    "terraform": (PLAN_KNOWN, {"account": "123456789012"}, ()),
}


@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    """An empty local endpoint in its own process: the files' accounts are also the fleet's (tests/support/fleet.py),
    and moto's state is per process, so seeding them here would change what the fleet's tests count."""
    process, url = start_endpoint_process(seed=None)
    try:
        yield url
    finally:
        stop_process(process)


def _merged(made: TemplateBackend, arns: list[str]) -> dict[str, Any]:
    """The accounts the file declares for these roles, as one authorization-details document."""
    merged: dict[str, Any] = {"UserDetailList": [], "GroupDetailList": [], "RoleDetailList": [], "Policies": []}
    seen: set[str] = set()
    for arn in arns:
        details = made.details_for(arn)
        assert details is not None
        merged["RoleDetailList"] += details["RoleDetailList"]
        for policy in details["Policies"]:
            if policy["Arn"] not in seen and ":iam::aws:policy/" not in policy["Arn"]:
                seen.add(policy["Arn"])
                merged["Policies"].append(policy)
    return merged


def _verdicts(facts: RoleFacts) -> dict[str, Mapping[str, Any]]:
    found: dict[str, Mapping[str, Any]] = {}
    for requirement in FLR.requirements:
        try:
            verdict = judge(requirement, facts, APPLIANCE)
        except CheckError as error:
            found[requirement.id] = {"broken": str(error)}
        else:
            found[requirement.id] = {
                "met": verdict.met,
                "reason": verdict.reason,
                "cause": verdict.cause,
                "remedy": verdict.remedy,
                "evidence": _comparable(verdict.evidence),
            }
    return found


def _comparable(evidence: Mapping[str, Any]) -> Mapping[str, Any]:
    """Evidence without the trust evaluation's time keys (the two runs are seconds apart)."""
    return {k: v for k, v in evidence.items() if k != "Evaluation"} | (
        {"Decision": evidence["Evaluation"]["EvalDecision"]} if "Evaluation" in evidence else {}
    )


@pytest.mark.parametrize("case", list(CASES))
def test_template_verdicts_equal_those_of_the_deployed_roles(case: str, endpoint: str, tmp_path: Path) -> None:
    path, options, roles = CASES[case]
    made = backend(path, **options)
    refs = made.select(roles)
    declared = {ref.arn: _verdicts(gather(made, ref, FLR, APPLIANCE)) for ref in refs}
    assert all(len(worlds) == 1 for worlds in (made.worlds(ref.key) for ref in refs))

    account = str(options["account"])
    seed_account(endpoint, _merged(made, list(declared)))
    out, _, _ = export_snapshot(
        tmp_path / "account.json", endpoint_url=endpoint, session=assumed_session(endpoint, account, "Exporter")
    )
    deployed = SnapshotBackend(load_snapshot(out))
    for ref in refs:
        assert deployed.account.find_role(ref.arn) is not None, f"{ref.arn} was not deployed"
        # Judged where the template is deployed: the same region as the template's own verdicts.
        region = options.get("region")
        scope = Scope(regions=(str(region),)) if region else None
        judged = _verdicts(gather(deployed, ref, FLR, APPLIANCE, scope=scope))
        assert declared[ref.arn] == judged, ref.label
    outcomes = [("met" in v and v["met"]) for per in declared.values() for v in per.values()]
    assert True in outcomes and False in outcomes  # each file holds a compliant role and broken ones
