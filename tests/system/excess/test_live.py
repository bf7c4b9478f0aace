"""Excess live, on the local endpoint: per role (AWS's simulator, one call) and in fleet mode (the engine,
AWS's simulator confirming the high-risk groups in one call, none where there are none)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.excess_accounts import FLR, account, role_arn
from tests.support.fleet import run_suite
from verification.backends import RoleRef
from verification.backends.live import LiveBackend
from verification.backends.prefetch import PrefetchBackend
from verification.endpoint import start_endpoint
from verification.fleet.accounting import ApiCounter
from verification.requirements.risk import risk_table
from verification.verdicts import Scope, gather
from verification.verdicts.excess import Excess, excess_for

SIMULATE = "iam:SimulatePrincipalPolicy"


@pytest.fixture(scope="module")
def url() -> Iterator[str]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("AWS_ACCESS_KEY_ID", "testing")
        patch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
        with start_endpoint(seed=account()) as endpoint:
            yield endpoint.url


def excess_with_calls(backend: LiveBackend | PrefetchBackend, counter: ApiCounter, name: str) -> tuple[Excess, int]:
    """The role's excess, and how many simulations it cost beyond the requirements' own."""
    ref = RoleRef.parse(role_arn(name))
    facts = gather(backend, ref, FLR, None)
    assert not facts.errors
    before = counter.total(operation=SIMULATE)
    excess = excess_for(backend, facts, FLR, Scope())
    return excess, counter.total(operation=SIMULATE) - before


def per_role(url: str) -> tuple[LiveBackend, ApiCounter]:
    counter = ApiCounter()
    return LiveBackend(endpoint_url=url, region="us-east-1", counter=counter), counter


def fleet(url: str) -> tuple[PrefetchBackend, ApiCounter]:
    counter = ApiCounter()
    return PrefetchBackend(LiveBackend(endpoint_url=url, region="us-east-1", counter=counter)), counter


def test_per_role_asks_the_simulator_once_for_the_high_risk_groups_only(url: str) -> None:
    backend, counter = per_role(url)
    admin, calls = excess_with_calls(backend, counter, "Admin")
    assert calls == 1 and admin.simulations == 1
    assert admin.examined == risk_table().high_risk  # the lower groups were not examined, and the note says so
    assert "not examined" in admin.note and "resource-exposure" in admin.note
    assert all(a.decided_by == "simulator" for a in admin.actions)
    assert {"iam:PutRolePolicy", "iam:CreatePolicyVersion"} <= {a.action for a in admin.group("privilege-escalation")}
    assert "s3:GetObject" in {a.action for a in admin.group("data-access")}
    exact, calls = excess_with_calls(backend, counter, "Exact")
    assert calls == 1 and exact.actions == ()
    extra, _ = excess_with_calls(backend, counter, "ExtraPutRolePolicy")
    assert [(a.action, a.group) for a in extra.actions] == [("iam:PutRolePolicy", "privilege-escalation")]
    bounded, calls = excess_with_calls(backend, counter, "AdminBounded")  # AWS applies the boundary
    assert calls == 1 and bounded.actions == ()
    no_iam, _ = excess_with_calls(backend, counter, "AdminNoIam")
    assert not [a for a in no_iam.actions if a.action.startswith("iam:")]
    assert "s3:GetObject" in {a.action for a in no_iam.group("data-access")}


def test_fleet_mode_costs_no_call_without_high_risk_excess_and_one_with(url: str) -> None:
    backend, counter = fleet(url)
    for name in ("Exact", "AdminBounded"):
        excess, calls = excess_with_calls(backend, counter, name)
        assert (excess.actions, calls) == ((), 0), name
        assert excess.examined == risk_table().groups
    extra, calls = excess_with_calls(backend, counter, "ExtraPutRolePolicy")
    assert calls == 1
    [item] = extra.actions
    assert (item.action, item.group, item.decided_by) == ("iam:PutRolePolicy", "privilege-escalation", "simulator")
    assert "confirmed by AWS's simulator" in extra.note


def test_fleet_mode_administrator_access_with_iam_denied(url: str) -> None:
    backend, counter = fleet(url)
    excess, calls = excess_with_calls(backend, counter, "AdminNoIam")
    assert calls == 1
    assert not [a for a in excess.actions if a.action.startswith("iam:")]
    assert "s3:GetObject" in {a.action for a in excess.group("data-access") if a.decided_by == "simulator"}
    # The lower groups come from the engine, and the note says so.
    assert {a.decided_by for a in excess.group("read")} == {"engine"} and "come from the engine" in excess.note


def test_the_suite_live_per_role_and_in_fleet_mode(url: str, tmp_path: Path) -> None:
    roles = [
        arg for name in ("Exact", "ExtraGetObject", "ExtraPutRolePolicy") for arg in ("--role-arn", role_arn(name))
    ]
    allure = tmp_path / "allure"
    per_role = run_suite([*roles, "--endpoint-url", url, "--prefetch", "never", "--alluredir", str(allure)], tmp_path)
    assert per_role.returncode == 0, per_role.stdout[-3000:] + per_role.stderr[-2000:]
    section = per_role.stdout.split("excess permissions (beyond the requirement sets", 1)[1]
    assert f"  {role_arn('Exact')}: none: privilege-escalation 0; data-access 0; resource-exposure -;" in section
    assert f"  {role_arn('ExtraPutRolePolicy')}: 1: privilege-escalation 1 (iam:PutRolePolicy);" in section
    # s3:GetObject on one bucket only: AWS's simulator, asked on Resource *, does not see it, and the note says so.
    assert f"  {role_arn('ExtraGetObject')}: none:" in section
    assert "asked on Resource * only (a grant on named resources only is not seen)" in section
    fleet_mode = run_suite([*roles, "--endpoint-url", url, "--prefetch", "always", "-rA"], tmp_path)
    section = fleet_mode.stdout.split("excess permissions (beyond the requirement sets", 1)[1]
    assert f"  {role_arn('ExtraGetObject')}: 1: privilege-escalation 0; data-access 1 (s3:GetObject); " in section
    assert f"  {role_arn('Exact')}: none: privilege-escalation 0; data-access 0; resource-exposure 0;" in section
    # The FLR page's PassRole: passed, with the note naming a narrower statement the engine checked.
    results = [json.loads(p.read_text()) for p in allure.glob("*-result.json")]
    # By labels: a passing role's results are written lean (no parameters), its labels stay.
    passrole = [
        r
        for r in results
        if {"name": "requirement", "value": "permission:iam:PassRole"} in r["labels"]
        and {"name": "role", "value": role_arn("Exact")} in r["labels"]
    ]
    [result] = passrole
    [note] = [a for a in result["attachments"] if a["name"] == "note"]
    text = (allure / note["source"]).read_text()
    assert result["status"] == "passed" and "narrower and still sufficient:" in text
    assert f'"Resource":"{role_arn("Exact")}"' in text and "iam:PassedToService" in text
