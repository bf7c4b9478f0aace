"""--excess report|fail|off on a snapshot: where the excess shows, and the excess:<group> tests."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tests.support.excess_accounts import account, role_arn
from tests.support.fleet import Completed, run_suite
from verification.reporting.evidence import read_json
from verification.requirements.risk import risk_table

ROLES = ("Exact", "Admin", "ExtraPutRolePolicy")


@pytest.fixture(scope="module")
def snapshot(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("snapshot") / "account.json"
    path.write_text(json.dumps(account()))
    return path


def verify(snapshot: Path, workdir: Path, *extra: str) -> Completed:
    roles = [arg for name in ROLES for arg in ("--role-arn", role_arn(name))]
    args = [*roles, "--snapshot", str(snapshot), "--alluredir", str(workdir / "allure")]
    args += ["--evidence-dir", str(workdir / "evidence"), "--step-summary", str(workdir / "summary.md")]
    return run_suite([*args, "-rA", *extra], workdir)


@pytest.fixture(scope="module")
def report(snapshot: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Completed, Path]:
    workdir = tmp_path_factory.mktemp("report")
    return verify(snapshot, workdir), workdir


def test_report_lists_each_roles_excess_in_the_terminal_summary(report: tuple[Completed, Path]) -> None:
    result, _ = report
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    section = result.stdout.split("excess permissions (beyond the requirement sets", 1)[1]
    assert re.search(rf"^  {re.escape(role_arn('Exact'))}: none: privilege-escalation 0; ", section, re.M)
    line = re.search(rf"^  {re.escape(role_arn('ExtraPutRolePolicy'))}: 1: (.*)$", section, re.M)
    assert line and line[1].startswith("privilege-escalation 1 (iam:PutRolePolicy); data-access 0;")
    admin = re.search(rf"^  {re.escape(role_arn('Admin'))}: (\d+): privilege-escalation (\d+) \((.*?)\)", section, re.M)
    assert admin and int(admin[1]) > 20000 and int(admin[2]) > 20
    assert "iam:AttachGroupPolicy" in admin[3] and admin[3].endswith("more")


def test_report_adds_no_test_and_changes_no_verdict(
    report: tuple[Completed, Path], snapshot: Path, tmp_path: Path
) -> None:
    off = verify(snapshot, tmp_path, "--excess", "off")
    counts = re.compile(r"=+ (\d+ passed.*) in [\d.]+s")
    assert counts.search(off.stdout)[1] == counts.search(report[0].stdout)[1]  # type: ignore[index]
    assert "excess permissions" not in off.stdout
    assert not list((tmp_path / "evidence").rglob("excess.json*"))
    assert "Excess permissions" not in (tmp_path / "summary.md").read_text()


def test_report_writes_every_action_to_the_evidence_and_a_row_to_the_step_summary(
    report: tuple[Completed, Path],
) -> None:
    _, workdir = report
    bundle = workdir / "evidence"
    admin = read_json(bundle / "roles" / "123456789012_Admin", "excess.json")
    assert len(admin["actions"]) == sum(admin["counts"].values()) > 20000
    assert {"action": "iam:PutRolePolicy", "group": "privilege-escalation"}.items() <= next(
        a for a in admin["actions"] if a["action"] == "iam:PutRolePolicy"
    ).items()
    exact = read_json(bundle / "roles" / "123456789012_Exact", "excess.json")
    assert exact["actions"] == [] and exact["examined"] == list(risk_table().groups)
    [risky] = [k for k in exact["required_but_risky"] if "PassRole" in k]
    assert "iam:PassedToService" in exact["required_but_risky"][risky]
    summary = (workdir / "summary.md").read_text()
    table = summary.split("### Excess permissions", 1)[1]
    assert f"| {role_arn('ExtraPutRolePolicy')} | 1: `iam:PutRolePolicy` | 0 | 0 | 0 | 0 |" in table
    assert f"| {role_arn('Exact')} | 0 | 0 | 0 | 0 | 0 |" in table


def test_report_attaches_the_excess_and_the_passrole_note_in_allure(report: tuple[Completed, Path]) -> None:
    _, workdir = report
    results = [json.loads(p.read_text()) for p in (workdir / "allure").glob("*-result.json")]
    names = {a["name"] for r in results for a in r.get("attachments", [])}
    assert {f"excess permissions of 123456789012/{n}" for n in ROLES} <= names
    assert {f"excess note for 123456789012/{n}" for n in ROLES} <= names
    # By the requirement label: a passing role's results are written lean, without their parameters.
    passrole = [
        r for r in results if {"name": "requirement", "value": "permission:iam:PassRole"} in r.get("labels", [])
    ]
    assert len(passrole) == 3 and all(r["status"] == "passed" for r in passrole)  # the verdict does not change
    for result in passrole:
        [note] = [a for a in result["attachments"] if a["name"] == "note"]
        text = (workdir / "allure" / note["source"]).read_text()
        assert "narrower and still sufficient:" in text and "ec2.amazonaws.com" in text


def test_fail_makes_a_test_per_group_failing_only_where_the_role_holds_more(snapshot: Path, tmp_path: Path) -> None:
    result = verify(snapshot, tmp_path, "--excess", "fail")
    assert result.returncode == 1, result.stdout[-3000:]
    found = re.findall(r"^(PASSED|FAILED) \S+::test_excess\[123456789012/(\S+)\]", result.stdout, re.M)
    outcomes = {case: outcome for outcome, case in found}
    groups = risk_table().groups
    assert outcomes == {
        **{f"Exact-excess:{g}": "PASSED" for g in groups},
        **{f"Admin-excess:{g}": "FAILED" for g in groups},
        **{f"ExtraPutRolePolicy-excess:{g}": "PASSED" for g in groups[1:]},
        "ExtraPutRolePolicy-excess:privilege-escalation": "FAILED",
    }
    assert "1 privilege-escalation permission(s) beyond the requirement sets: iam:PutRolePolicy\n" in result.stdout
    admin_read = r"^\d{4,} read permission\(s\) beyond the requirement sets: (\S+, ){4}\S+ and \d+ more$"
    assert re.search(admin_read, result.stdout, re.M)  # only Admin holds read excess: its first five, then a count


def test_failing_excess_tests_have_their_own_allure_category(snapshot: Path, tmp_path: Path) -> None:
    from verification.reporting.categories import categories

    verify(snapshot, tmp_path, "--excess", "fail", "-k", "ExtraPutRolePolicy and excess")
    [failed] = [
        r for p in (tmp_path / "allure").glob("*-result.json") if (r := json.loads(p.read_text()))["status"] == "failed"
    ]
    message = failed["statusDetails"]["message"]
    matching = [c["name"] for c in categories() if re.fullmatch(c["messageRegex"], message)]
    assert matching == ["Permissions beyond the requirement sets"], message
