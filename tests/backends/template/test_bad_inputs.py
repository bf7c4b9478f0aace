"""Bad templates and plans: one line naming the file and the fault, raised before anything is judged.

The same rows run through pytest (``test_plugin.py``) to show that no test runs and the exit is 4.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.support.templates import PLAN_KNOWN, PROFILE, backend, worker
from verification.errors import InputError


@dataclass(frozen=True)
class Row:
    """One bad input: the file to write, which option reads it, and the fault the line must name."""

    name: str
    option: str  # "template" or "plan"
    content: Callable[[], str]
    fault: str
    roles: tuple[str, ...] = ()


def cfn(resources: dict[str, Any], **sections: Any) -> Callable[[], str]:
    return lambda: json.dumps({"Resources": resources, **sections})


def text(value: str) -> Callable[[], str]:
    return lambda: value


def plan(change: Callable[[dict[str, Any]], None]) -> Callable[[], str]:
    def make() -> str:
        data = json.loads(PLAN_KNOWN.read_text())
        change(data)
        return json.dumps(data)

    return make


def _state(data: dict[str, Any]) -> None:
    values = data.pop("planned_values")
    for key in ("resource_changes", "prior_state", "configuration", "relevant_attributes", "complete", "errored"):
        data.pop(key, None)
    data["values"] = values


CYCLE = {
    "A": worker(RoleName={"Fn::Sub": "${B}-a"}),
    "B": worker(RoleName={"Fn::Join": ["-", [{"Ref": "A"}, "b"]]}),
}

ROWS = [
    Row(
        "not-cloudformation",
        "template",
        text("name: my-app\nversion: 3\n"),
        "not a CloudFormation template: no Resources section",
    ),
    Row("not-yaml", "template", text("Resources: [unclosed\n"), "not YAML:"),
    Row("not-json", "template", text('{"Resources": {'), "not JSON:"),
    Row(
        "state-as-plan",
        "plan",
        plan(_state),
        "this is a Terraform state, not a plan: run `terraform plan -out PLANFILE`",
    ),
    Row("plan-as-template", "template", plan(lambda d: None), "this is Terraform JSON, not a CloudFormation template"),
    Row(
        "template-as-plan", "plan", cfn({"Worker": worker()}), "this is a CloudFormation template, not a Terraform plan"
    ),
    Row("plan-format-2", "plan", plan(lambda d: d.update(format_version="2.0")), "format_version 2.0 is not supported"),
    Row("cyclic-ref", "template", cfn(CYCLE), "circular reference: Resources.A -> Resources.B -> Resources.A"),
    Row(
        "cyclic-condition",
        "template",
        cfn({"Worker": worker()}, Conditions={"X": {"Condition": "Y"}, "Y": {"Fn::Not": [{"Condition": "X"}]}}),
        "circular reference: Conditions.X -> Conditions.Y -> Conditions.X",
    ),
    Row(
        "sam-transform",
        "template",
        cfn({"Worker": worker()}, Transform="AWS::Serverless-2016-10-31"),
        "Transform AWS::Serverless-2016-10-31 is not supported",
    ),
    Row(
        "macro-transform",
        "template",
        cfn({"Worker": worker()}, Transform=[{"Name": "AcmeIamMacro", "Parameters": {}}]),
        "Transform AcmeIamMacro is not supported",
    ),
    Row(
        "nested-stack",
        "template",
        cfn(
            {
                "Worker": worker(),
                "Child": {
                    "Type": "AWS::CloudFormation::Stack",
                    "Properties": {"TemplateURL": "x", "Parameters": {"Role": {"Ref": "Worker"}}},
                },
            }
        ),
        "Resources.Child is a nested stack (AWS::CloudFormation::Stack) handed role Worker",
    ),
    Row(
        "sam-resource",
        "template",
        cfn({"Fn": {"Type": "AWS::Serverless::Function", "Properties": {}}}),
        "Resources.Fn is a SAM resource",
    ),
    Row("no-roles", "template", cfn({"Topic": {"Type": "AWS::SNS::Topic"}}), "it declares no IAM role"),
    Row(
        "unknown-role",
        "template",
        cfn({"Worker": worker(), "Profile": PROFILE}),
        "no role 'Wroker'; it declares Worker",
        ("Wroker",),
    ),
    Row(
        "missing-mapping-key",
        "template",
        cfn(
            {"Worker": worker(Path={"Fn::FindInMap": ["Paths", "prod", "Path"]})},
            Mappings={"Paths": {"dev": {"Path": "/"}}},
        ),
        "Fn::FindInMap: Mappings has no Paths.prod",
    ),
    Row(
        "policy-the-engine-refuses",
        "template",
        cfn({"Worker": worker(Policies=[{"PolicyName": "p", "PolicyDocument": {"Statement": [{"Effect": "Maybe"}]}}])}),
        "Resources.Worker:",
    ),
    Row(
        "ref-to-nothing",
        "template",
        cfn({"Worker": worker(RoleName={"Ref": "Nope"})}),
        "Ref Nope: no such parameter or resource",
    ),
    Row(
        "role-without-trust",
        "template",
        cfn({"Worker": {"Type": "AWS::IAM::Role", "Properties": {}}}),
        "AssumeRolePolicyDocument: missing",
    ),
    Row(
        "policy-not-json",
        "plan",
        plan(
            lambda d: next(c for c in d["resource_changes"] if c["address"] == "aws_iam_role_policy.worker_ec2")[
                "change"
            ]["after"].update(policy="{not json")
        ),
        "the policy is not JSON",
    ),
]


@pytest.mark.parametrize("row", ROWS, ids=[row.name for row in ROWS])
def test_bad_input_is_one_line_naming_the_file(row: Row, tmp_path: Path) -> None:
    path = tmp_path / ("plan.json" if row.option == "plan" else "template.yaml")
    path.write_text(row.content())
    with pytest.raises(InputError) as caught:
        made = backend(path)
        made.check(made.select(row.roles))
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith(f"{'plan' if row.option == 'plan' else 'template'} {path}: ")
    assert row.fault in message
