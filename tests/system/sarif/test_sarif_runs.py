"""``--sarif FILE`` through pytest: every failed and broken requirement at its level and line, valid SARIF.

Each run's SARIF is validated against the vendored SARIF 2.1.0 schema, and every result's line is
read back from the file it names (relative to the folder the run started in).
"""

from __future__ import annotations

import json
import re
import shutil
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

from tests.support.fleet import Fleet, run_suite
from tests.support.sarif import code_scanning_faults, read_back, schema_errors
from tests.support.templates import CFN_YAML, DATA, PLAN_KNOWN
from verification.plugin import SUITE_DIR
from verification.reporting.sarif import FINGERPRINT_KEY, merge_sarif

pytest_plugins = ["pytester"]
#: The case in a test's name: ``test_permission[flr-worker.cfn.yaml/DeniedRole-permission:ec2:X]``.
CASE = re.compile(r"\[(?P<role>.+?)-(?P<requirement>(?:permission|trust|instance-profile)[^\]]*)\]$")


def _junit(path: Path) -> dict[tuple[str, str], str]:
    """(role label, requirement) → failed, broken or passed, as JUnit recorded the run."""
    found = {}
    for case in ET.parse(path).iter("testcase"):
        match = CASE.search(case.get("name", ""))
        assert match is not None
        tags = {child.tag for child in case}
        outcome = "failed" if "failure" in tags else "broken" if "error" in tags else "passed"
        found[(match["role"], match["requirement"])] = outcome
    return found


def _results(log: dict[str, Any]) -> list[dict[str, Any]]:
    [run] = log["runs"]
    return list(run["results"])


def _run(pytester: pytest.Pytester, *args: str, subprocess: bool = False) -> pytest.RunResult:
    """The bundled suite with ARGS; in a subprocess when it starts the demo's endpoint (moto's state is per process)."""
    return (pytester.runpytest_subprocess if subprocess else pytester.runpytest)(
        str(SUITE_DIR),
        "-p",
        "no:cacheprovider",
        "-n",
        "0",
        f"--junitxml={pytester.path / 'junit.xml'}",
        f"--alluredir={pytester.path / 'allure'}",
        f"--evidence-dir={pytester.path / 'evidence'}",
        *args,
    )


def test_a_template_run_puts_each_failed_and_broken_requirement_at_its_level_and_line(
    pytester: pytest.Pytester,
) -> None:
    (pytester.path / "infra").mkdir()
    shutil.copy(CFN_YAML, pytester.path / "infra" / "workers.yaml")
    roles = ("WorkerRole", "ProdDenyRole", "UnknownDenyRole", "DeniedRole")
    result = _run(
        pytester,
        "--template",
        "infra/workers.yaml",
        *(arg for role in roles for arg in ("--role", role)),
        "--appliance-principal",
        "111111111111",
        "--sarif",
        "reports/roles.sarif",
    )
    assert result.ret == 1
    log = json.loads((pytester.path / "reports" / "roles.sarif").read_text())
    assert schema_errors(log) == []
    assert code_scanning_faults(log) == []
    run = log["runs"][0]
    assert run["tool"]["driver"]["name"] == "veeam-role-verification"
    assert run["automationDetails"]["id"] == "template/infra/workers.yaml/"
    assert run["invocations"][0]["exitCode"] == 1
    junit = _junit(pytester.path / "junit.xml")
    outcomes = set(junit.values())
    assert outcomes == {"passed", "failed", "broken"}
    tallies = {outcome: list(junit.values()).count(outcome) for outcome in ("passed", "failed", "broken")}
    assert run["properties"]["counts"] == {"roles": 4, **tallies, "skipped": 0}
    # Every failed requirement is an error, every broken one a warning, and a passing one nothing.
    written = {(r["properties"]["role"], r["ruleId"]): r for r in _results(log)}
    expected = {case: outcome for case, outcome in junit.items() if outcome != "passed"}
    assert {case: r["properties"]["outcome"] for case, r in written.items()} == expected
    assert all(r["level"] == {"failed": "error", "broken": "warning"}[expected[case]] for case, r in written.items())
    rules = {rule["id"] for rule in run["tool"]["driver"]["rules"]}
    assert rules == {requirement for _, requirement in expected}
    assert all(rule["helpUri"].startswith("https://helpcenter.veeam.com/") for rule in run["tool"]["driver"]["rules"])
    # Each result's line, read back from the template as the user named it.
    for (role, requirement), r in written.items():
        where = r["locations"][0]["physicalLocation"]
        assert where["artifactLocation"]["uri"] == "infra/workers.yaml"
        line = read_back(pytester.path, r)
        key = role.split("/", 1)[1]
        if role.endswith("ProdDenyRole") and requirement == "permission:ec2:TerminateInstances":
            assert line.strip() == "- Sid: NoTerminateInProd"  # the Deny of the Stage=prod case
        elif role.endswith("DeniedRole") and requirement in (
            "permission:ec2:DeleteSnapshot",
            "permission:ec2:DeleteVolume",
        ):
            assert line.strip() == "- Sid: NoDeletes"
        elif role.endswith("DeniedRole") and r["message"]["text"].count("permissions boundary"):
            assert line.strip() == "PermissionsBoundary: !Ref WorkerBoundary"
        elif requirement.startswith("trust:"):
            assert line.strip() == "AssumeRolePolicyDocument:"
        elif role.endswith("UnknownDenyRole"):
            assert "${ProtectedInstance}" in line  # the value the verdict waits for
        else:
            assert line.strip() == f"{key}:", (role, requirement, line)
        assert r["message"]["text"].startswith(f"{role}: ")
        assert "What to change: " in r["message"]["text"]
    fingerprints = [r["partialFingerprints"][FINGERPRINT_KEY] for r in _results(log)]
    assert len(set(fingerprints)) == len(fingerprints)
    result.stdout.fnmatch_lines(["sarif: *roles.sarif (* error(s): failed requirements; * warning(s): could not*"])


def test_a_plan_run_names_the_resource_address_and_its_block_in_the_configuration(pytester: pytest.Pytester) -> None:
    shutil.copytree(PLAN_KNOWN.parent, pytester.path / "tf")
    result = _run(pytester, "--plan", "tf/plan.json", "--role", "aws_iam_role.denied", "--sarif", "plan.sarif")
    assert result.ret == 1
    log = json.loads((pytester.path / "plan.sarif").read_text())
    assert schema_errors(log) == [] and code_scanning_faults(log) == []
    results = _results(log)
    assert results and {r["level"] for r in results} == {"error"}
    for r in results:
        location = r["locations"][0]
        assert location["physicalLocation"]["artifactLocation"]["uri"] == "tf/plan.json"
        assert location["logicalLocations"] == [{"fullyQualifiedName": "aws_iam_role.denied", "kind": "resource"}]
        line = read_back(pytester.path, r)
        if r["ruleId"] == "instance-profile":
            assert line.strip() == '"address": "aws_iam_role.denied",'
        elif r["ruleId"].startswith("trust:"):
            assert line.strip().startswith('"assume_role_policy": "{')
        blocks = [(rel["physicalLocation"]["artifactLocation"]["uri"], rel) for rel in r["relatedLocations"]]
        assert blocks[-1][0] == "tf/main.tf"
        assert read_back(pytester.path, {"locations": [blocks[-1][1]]}) == 'resource "aws_iam_role" "denied" {'
    denied = [r for r in results if r["ruleId"] == "permission:ec2:DeleteSnapshot"]
    assert denied and "explicitly denied" in denied[0]["message"]["text"]
    assert '\\"Deny\\"' in read_back(pytester.path, denied[0])  # the policy that holds the Deny
    # ... and the Deny statement itself, in the configuration the plan was made from.
    first = denied[0]["relatedLocations"][0]
    assert first["message"]["text"] == "statement NoDeletes"
    assert read_back(pytester.path, {"locations": [first]}).strip() == 'sid       = "NoDeletes"'


def test_a_demo_run_on_the_local_endpoint_points_at_each_role_in_the_roles_file(pytester: pytest.Pytester) -> None:
    result = _run(pytester, "--demo", "--sarif", "demo.sarif", subprocess=True)
    assert result.ret == 1
    log = json.loads((pytester.path / "demo.sarif").read_text())
    assert schema_errors(log) == [] and code_scanning_faults(log) == []
    assert log["runs"][0]["automationDetails"]["id"] == "demo/"
    results = _results(log)
    junit = _junit(pytester.path / "junit.xml")
    assert len(results) == sum(1 for outcome in junit.values() if outcome != "passed") > 0
    roles = (pytester.path / "demo.sarif.roles.txt").read_text().splitlines()
    assert len(roles) == 2
    for r in results:
        assert r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == "demo.sarif.roles.txt"
        assert read_back(pytester.path, r) == r["properties"]["role"]


def test_a_passing_run_writes_an_empty_sarif_and_bad_input_writes_none(pytester: pytest.Pytester) -> None:
    passing = _run(
        pytester,
        "--plan",
        str(PLAN_KNOWN),
        "--role",
        "aws_iam_role.worker",
        "--account",
        "123456789012",
        "--appliance-principal",
        "111111111111",
        "--sarif",
        "ok.sarif",
    )
    assert passing.ret == 0
    log = json.loads((pytester.path / "ok.sarif").read_text())
    assert schema_errors(log) == [] and _results(log) == []
    assert log["runs"][0]["invocations"][0]["exitCode"] == 0
    bad = pytester.path / "bad.yaml"
    bad.write_text("Resources: [not, a, mapping]\n")
    refused = _run(pytester, "--template", str(bad), "--sarif", "bad.sarif")
    assert refused.ret == 4
    refused.stderr.fnmatch_lines(["ERROR: template *bad.yaml: *(no SARIF written to bad.sarif)"])
    assert not (pytester.path / "bad.sarif").exists()
    alone = _run(pytester, "--plan", str(PLAN_KNOWN), "--sarif-category", "x")
    assert alone.ret == 4
    alone.stderr.fnmatch_lines(["ERROR: --sarif-category applies only with --sarif FILE"])


def test_a_sharded_pair_on_the_endpoint_has_its_own_categories_and_merges_into_one_run(
    fleet: Fleet,
    tmp_path: Path,
) -> None:
    targets = tmp_path / "fleet.yaml"
    entries = [
        (
            f'  - account: "{account}"\n    role_name: "{pattern}"\n'
            f"    assume_role_arn: arn:aws:iam::{account}:role/RoleVerification\n"
        )
        for account, pattern in ((fleet.accounts[0], "VeeamWorker02"), (fleet.accounts[1], "VeeamWorker0[12]"))
    ]
    targets.write_text("# two entries, one shard each\ntargets:\n" + "".join(entries))
    paths = []
    for shard in (1, 2):
        one = tmp_path / f"shard-{shard}.yaml"
        one.write_text("targets:\n" + entries[shard - 1])
        out = run_suite(
            [
                "--targets",
                one.name,
                "--endpoint-url",
                fleet.url,
                "--sarif",
                f"shard-{shard}.sarif",
                "--sarif-category",
                f"nightly/shard-{shard}-of-2",
                "--alluredir=allure",
                f"--evidence-dir=evidence-{shard}",
            ],
            tmp_path,
        )
        assert out.returncode == 1, out.stdout[-2000:] + out.stderr
        log = json.loads((tmp_path / f"shard-{shard}.sarif").read_text())
        assert schema_errors(log) == [] and code_scanning_faults(log) == []
        assert log["runs"][0]["automationDetails"]["id"] == f"nightly/shard-{shard}-of-2/"
        for r in _results(log):
            assert r["ruleId"] == "permission:ec2:CopySnapshot" and r["level"] == "error"
            assert r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == one.name
            assert read_back(tmp_path, r) == f'  - account: "{fleet.accounts[shard - 1]}"'
        paths.append(tmp_path / f"shard-{shard}.sarif")
    merged = merge_sarif(paths)
    assert schema_errors(merged) == [] and code_scanning_faults(merged) == []
    [run] = merged["runs"]
    assert run["automationDetails"]["id"] == "nightly/"
    assert sorted(r["properties"]["role"] for r in run["results"]) == [
        fleet.arn(fleet.accounts[0], "VeeamWorker02"),
        fleet.arn(fleet.accounts[1], "VeeamWorker02"),
    ]


def test_a_snapshot_run_over_xdist_points_at_each_role_and_names_its_category(pytester: pytest.Pytester) -> None:
    from verification import FIXTURES

    roles = ("VeeamFLRWorker", "VeeamFLRWorkerMisconfigured")
    result = pytester.runpytest_subprocess(
        str(SUITE_DIR),
        "-p",
        "no:cacheprovider",
        "-n",
        "2",
        "--snapshot",
        str(FIXTURES / "demo" / "account.json"),
        *(arg for role in roles for arg in ("--role-arn", f"arn:aws:iam::123456789012:role/{role}")),
        "--appliance-principal",
        "arn:aws:iam::123456789012:role/VeeamImpersonation",
        f"--junitxml={pytester.path / 'junit.xml'}",
        f"--alluredir={pytester.path / 'allure'}",
        f"--evidence-dir={pytester.path / 'evidence'}",
        "--sarif",
        "out/snapshot.sarif",
    )
    assert result.ret == 1
    log = json.loads((pytester.path / "out" / "snapshot.sarif").read_text())
    assert schema_errors(log) == [] and code_scanning_faults(log) == []
    assert log["runs"][0]["automationDetails"]["id"] == "snapshot/account.json/"
    junit = _junit(pytester.path / "junit.xml")
    failing = {
        (f"arn:aws:iam::{label.replace('/', ':role/')}", req) for (label, req), o in junit.items() if o != "passed"
    }
    written = {(r["properties"]["role"], r["ruleId"]) for r in _results(log)}
    assert written == failing and written  # every failure came back from the workers, each once
    assert (pytester.path / "out" / "snapshot.sarif.roles.txt").read_text().splitlines() == [
        f"arn:aws:iam::123456789012:role/{role}" for role in roles
    ]
    for r in _results(log):
        assert r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == "out/snapshot.sarif.roles.txt"
        assert read_back(pytester.path, r) == r["properties"]["role"]


CONDITIONS = """\
Resources:
  VpceWorker:
    Type: AWS::IAM::Role
    Properties:
      RoleName: VpceWorker
      AssumeRolePolicyDocument: &trust
        Version: "2012-10-17"
        Statement:
          - Effect: Allow
            Principal: {Service: ec2.amazonaws.com, AWS: "arn:aws:iam::111111111111:root"}
            Action: sts:AssumeRole
      Policies:
        - PolicyName: vpce-only
          PolicyDocument:
            Version: "2012-10-17"
            Statement:
              - Sid: Describe
                Effect: Allow
                Action: ec2:DescribeInstances
                Resource: "*"
              - Sid: TagThroughTheVpceOnly
                Effect: Allow
                Action: ec2:Create*
                Resource: "*"
                Condition: {StringEquals: {aws:SourceVpce: vpce-1a2b3c4d}}
  OfficeWorker:
    Type: AWS::IAM::Role
    Properties:
      RoleName: OfficeWorker
      AssumeRolePolicyDocument: *trust
      Policies:
        - PolicyName: office-only
          PolicyDocument:
            Version: "2012-10-17"
            Statement:
              - Sid: Work
                Effect: Allow
                Action: [ec2:CreateTags, ec2:DescribeInstances]
                Resource: "*"
              - Sid: TagFromTheOfficeOnly
                Effect: Deny
                Action: ec2:CreateTags
                Resource: "*"
                Condition: {NotIpAddress: {aws:SourceIp: 192.0.2.0/24}}
  Profiles:
    Type: AWS::IAM::InstanceProfile
    Properties:
      Roles: [!Ref VpceWorker, !Ref OfficeWorker]
"""


def test_a_condition_that_decides_is_the_line_of_its_statement(pytester: pytest.Pytester) -> None:
    """An "allowed only when" verdict points at the Allow with the condition; "denied unless" at the Deny."""
    (pytester.path / "conditions.yaml").write_text(CONDITIONS)
    result = _run(
        pytester,
        "--template",
        "conditions.yaml",
        "--requirements",
        str(DATA / "small-requirements.yaml"),
        "--appliance-principal",
        "111111111111",
        "--sarif",
        "c.sarif",
    )
    assert result.ret == 1
    log = json.loads((pytester.path / "c.sarif").read_text())
    assert schema_errors(log) == []
    found = {(r["properties"]["role"], r["ruleId"]): r for r in _results(log)}
    assert set(found) == {
        ("conditions.yaml/VpceWorker", "permission:ec2:CreateTags"),
        ("conditions.yaml/OfficeWorker", "permission:ec2:CreateTags"),
    }
    vpce = found[("conditions.yaml/VpceWorker", "permission:ec2:CreateTags")]
    assert "allowed only when aws:SourceVpce is present" in vpce["message"]["text"]
    assert read_back(pytester.path, vpce).strip() == "- Sid: TagThroughTheVpceOnly"
    office = found[("conditions.yaml/OfficeWorker", "permission:ec2:CreateTags")]
    assert "denied unless the request comes from 192.0.2.0/24" in office["message"]["text"]
    assert read_back(pytester.path, office).strip() == "- Sid: TagFromTheOfficeOnly"
