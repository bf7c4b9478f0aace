"""Template and plan runs through pytest: test ids, header, outcomes, and bad input that runs nothing."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from tests.backends.template.test_bad_inputs import ROWS, Row
from tests.support.templates import CFN_YAML, PLAN_KNOWN
from verification.plugin import SUITE_DIR

pytest_plugins = ["pytester"]
USAGE_ERROR = 4
ERROR_LINE = re.compile(r"^(ERROR: |\S+: error: argument --)")


def _outcomes(junit: Path) -> dict[str, str]:
    found = {}
    for case in ET.parse(junit).iter("testcase"):
        problem = next((c.tag for c in case if c.tag in ("failure", "error", "skipped")), "passed")
        found[case.get("name", "")] = problem
    return found


def test_a_template_run_names_tests_by_file_and_logical_id(pytester: pytest.Pytester) -> None:
    junit = pytester.path / "junit.xml"
    result = pytester.runpytest(
        str(SUITE_DIR),
        "-p",
        "no:cacheprovider",
        "--template",
        str(CFN_YAML),
        "--role",
        "WorkerRole",
        "--role",
        "ProdDenyRole",
        "--appliance-principal",
        "111111111111",
        f"--junitxml={junit}",
        f"--alluredir={pytester.path / 'allure'}",
        f"--evidence-dir={pytester.path / 'evidence'}",
    )
    assert result.ret == 1
    header = "\n".join(result.outlines[:6])
    assert f"source: CloudFormation template {CFN_YAML}" in header
    assert "SCPs and drift are outside a template" in header
    outcomes = _outcomes(junit)
    assert len(outcomes) == 2 * 85
    assert outcomes["test_permission[flr-worker.cfn.yaml/WorkerRole-permission:ec2:CreateTags]"] == "passed"
    failed = [name for name, outcome in outcomes.items() if outcome != "passed"]
    assert failed == ["test_permission[flr-worker.cfn.yaml/ProdDenyRole-permission:ec2:TerminateInstances]"]
    result.stdout.fnmatch_lines(["explicitly denied by prod-guard (lines 3-9) (when Stage=prod)"])


def test_a_plan_run_with_parameters_file_refused_and_account_given(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest(
        str(SUITE_DIR), "-p", "no:cacheprovider", "--plan", str(PLAN_KNOWN), "--parameter", "Stage=prod"
    )
    assert result.ret == USAGE_ERROR
    result.stderr.fnmatch_lines(["ERROR: --parameter applies to --template: a Terraform plan has its variables*"])
    passing = pytester.runpytest(
        str(SUITE_DIR),
        "-p",
        "no:cacheprovider",
        "--plan",
        str(PLAN_KNOWN),
        "--role",
        "aws_iam_role.worker",
        "--account",
        "123456789012",
        "--appliance-principal",
        "111111111111",
        f"--alluredir={pytester.path / 'allure'}",
        f"--evidence-dir={pytester.path / 'evidence'}",
    )
    passing.assert_outcomes(passed=85)


def test_parameters_come_from_a_file_and_the_command_line_wins(pytester: pytest.Pytester) -> None:
    values = pytester.path / "parameters.json"
    values.write_text('[{"ParameterKey": "Stage", "ParameterValue": "prod"}]')
    result = pytester.runpytest(
        str(SUITE_DIR),
        "-p",
        "no:cacheprovider",
        "--template",
        str(CFN_YAML),
        "--role",
        "ProdDenyRole",
        "--parameters-file",
        str(values),
        "-k",
        "TerminateInstances",
        f"--alluredir={pytester.path / 'allure'}",
        f"--evidence-dir={pytester.path / 'evidence'}",
    )
    result.assert_outcomes(failed=1)
    dev = pytester.runpytest(
        str(SUITE_DIR),
        "-p",
        "no:cacheprovider",
        "--template",
        str(CFN_YAML),
        "--role",
        "ProdDenyRole",
        "--parameters-file",
        str(values),
        "--parameter",
        "Stage=dev",
        "-k",
        "TerminateInstances",
        f"--alluredir={pytester.path / 'allure'}",
        f"--evidence-dir={pytester.path / 'evidence'}",
    )
    dev.assert_outcomes(passed=1)


EXTRA = [
    (
        "role-without-template",
        ("--role", "WorkerRole", "--role-arn", "arn:aws:iam::123456789012:role/W"),
        "--role applies only with --template or --plan",
    ),
    (
        "template-and-role-arn",
        ("--template", str(CFN_YAML), "--role-arn", "arn:aws:iam::123456789012:role/W"),
        "cannot be combined with --role-arn",
    ),
    (
        "template-and-plan",
        ("--template", str(CFN_YAML), "--plan", str(PLAN_KNOWN)),
        "give --template or --plan, not both",
    ),
    ("bad-account", ("--template", str(CFN_YAML), "--account", "12345"), "is not a 12-digit AWS account id"),
    ("bad-parameter", ("--template", str(CFN_YAML), "--parameter", "Stage"), "is not KEY=VALUE"),
]


def _assert_one_line(result: pytest.RunResult, fragment: str) -> None:
    lines = result.outlines + result.errlines
    text = "\n".join(lines)
    assert result.ret == USAGE_ERROR, text
    hits = [line for line in lines if fragment in line]
    assert len(hits) == 1, f"{fragment!r} should be on exactly one line:\n{text}"
    assert ERROR_LINE.match(hits[0]), text
    assert "Traceback" not in text and "passed" not in text


@pytest.mark.parametrize("row", ROWS, ids=[row.name for row in ROWS])
def test_a_bad_file_is_one_line_and_nothing_runs(pytester: pytest.Pytester, row: Row) -> None:
    path = pytester.path / ("plan.json" if row.option == "plan" else "template.yaml")
    path.write_text(row.content())
    roles = [arg for name in row.roles for arg in ("--role", name)]
    result = pytester.runpytest(str(SUITE_DIR), "-p", "no:cacheprovider", f"--{row.option}", str(path), *roles)
    _assert_one_line(result, row.fault)


@pytest.mark.parametrize("kind, argv, fragment", EXTRA, ids=[row[0] for row in EXTRA])
def test_bad_options_are_one_line_and_nothing_runs(
    pytester: pytest.Pytester, kind: str, argv: tuple[str, ...], fragment: str
) -> None:
    _assert_one_line(pytester.runpytest(str(SUITE_DIR), "-p", "no:cacheprovider", *argv), fragment)


def test_an_incomplete_plan_is_verified_with_a_warning_in_the_header(pytester: pytest.Pytester) -> None:
    data = json.loads(PLAN_KNOWN.read_text())
    data["complete"] = False
    plan = pytester.path / "plan.json"
    plan.write_text(json.dumps(data))
    result = pytester.runpytest(
        str(SUITE_DIR),
        "-p",
        "no:cacheprovider",
        "--plan",
        str(plan),
        "--role",
        "aws_iam_role.worker",
        "--account",
        "123456789012",
        "-k",
        "instance-profile",
        f"--alluredir={pytester.path / 'allure'}",
        f"--evidence-dir={pytester.path / 'evidence'}",
    )
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines([f"warning: plan {plan}: complete is false: applying it leaves more to plan*"])


def test_a_boolean_in_a_parameters_file_reads_as_cloudformation_reads_it(pytester: pytest.Pytester) -> None:
    """`Lockdown: true` in a YAML parameters file is "true", so `!Equals [!Ref Lockdown, "true"]` holds."""
    template = pytester.path / "template.yaml"
    template.write_text(
        """
Parameters:
  Lockdown: {Type: String, AllowedValues: ['true', 'false']}
Conditions:
  IsLockdown: !Equals [!Ref Lockdown, 'true']
Resources:
  Worker:
    Type: AWS::IAM::Role
    Properties:
      RoleName: Worker
      AssumeRolePolicyDocument:
        Statement: [{Effect: Allow, Principal: {Service: ec2.amazonaws.com}, Action: 'sts:AssumeRole'}]
      Policies:
        - PolicyName: grant
          PolicyDocument: {Statement: [{Effect: Allow, Action: 'ec2:CreateTags', Resource: '*'}]}
        - !If
          - IsLockdown
          - PolicyName: lock
            PolicyDocument: {Statement: [{Effect: Deny, Action: 'ec2:CreateTags', Resource: '*'}]}
          - !Ref AWS::NoValue
"""
    )
    values = pytester.path / "values.yaml"
    values.write_text("Lockdown: true\n")
    result = pytester.runpytest(
        str(SUITE_DIR),
        "-p",
        "no:cacheprovider",
        "--template",
        str(template),
        "--parameters-file",
        str(values),
        "-k",
        "CreateTags",
        f"--alluredir={pytester.path / 'allure'}",
        f"--evidence-dir={pytester.path / 'evidence'}",
    )
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*explicitly denied by lock*"])
