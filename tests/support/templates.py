"""Small templates and plans for the template tests, and their verdicts in one flat shape."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from verification.backends import create_backend
from verification.backends.template import TemplateBackend
from verification.errors import CheckError
from verification.requirements import RequirementSet, load_requirement_set
from verification.verdicts import AppliancePrincipal, gather, judge

DATA = Path(__file__).resolve().parents[1] / "backends" / "template" / "data"
CFN_YAML = DATA / "flr-worker.cfn.yaml"
CDK_JSON = DATA / "flr-worker.cdk.template.json"
PLAN_KNOWN = DATA / "terraform" / "known" / "plan.json"
PLAN_UNKNOWNS = DATA / "terraform" / "unknowns" / "plan.json"
ACCOUNT = "123456789012"
#: The appliance as an account of its own: its side is outside every file, as cross-account live runs.
APPLIANCE = AppliancePrincipal.parse("111111111111")
SMALL = load_requirement_set(str(DATA / "small-requirements.yaml"))
FLR = load_requirement_set("veeam-flr-worker-prod")
EC2_TRUST = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Principal": {"Service": "ec2.amazonaws.com", "AWS": "arn:aws:iam::111111111111:root"},
            "Action": "sts:AssumeRole",
        }
    ],
}
Outcome = tuple[str, str]


def document(*statements: Mapping[str, Any]) -> dict[str, Any]:
    """A policy document of the given statements."""
    return {"Version": "2012-10-17", "Statement": list(statements)}


def grant(*actions: str, **extra: Any) -> dict[str, Any]:
    """An Allow statement on Resource "*"."""
    return {"Effect": "Allow", "Action": list(actions), "Resource": "*", **extra}


def worker(**properties: Any) -> dict[str, Any]:
    """A role resource that meets the small set, with extra properties; plus its instance profile."""
    base = {
        "RoleName": "Worker",
        "AssumeRolePolicyDocument": EC2_TRUST,
        "Policies": [
            {"PolicyName": "grant", "PolicyDocument": document(grant("ec2:CreateTags", "ec2:DescribeInstances"))}
        ],
    }
    return {"Type": "AWS::IAM::Role", "Properties": {**base, **properties}}


PROFILE = {"Type": "AWS::IAM::InstanceProfile", "Properties": {"Roles": [{"Ref": "Worker"}]}}


def template(tmp_path: Path, resources: Mapping[str, Any], name: str = "template.json", **sections: Any) -> Path:
    """Write a CloudFormation JSON template holding ``resources`` (and Parameters, Conditions...)."""
    path = tmp_path / name
    path.write_text(json.dumps({"Resources": dict(resources), **sections}, indent=1))
    return path


def backend(path: Path, **options: Any) -> TemplateBackend:
    """A template backend for a CloudFormation file, or a plan when ``path`` is one."""
    key = "plan" if "plan" in path.name else "template"
    made = create_backend("template", **{key: path}, **options)
    assert isinstance(made, TemplateBackend)
    return made


def outcomes(
    made: TemplateBackend,
    requirements: RequirementSet = SMALL,
    appliance: AppliancePrincipal | None = APPLIANCE,
    roles: tuple[str, ...] = (),
) -> dict[str, dict[str, Outcome]]:
    """Role label -> requirement id -> (passed|failed|broken, reason or message)."""
    found: dict[str, dict[str, Outcome]] = {}
    for ref in made.select(roles):
        facts = gather(made, ref, requirements, appliance)
        per: dict[str, Outcome] = {}
        for requirement in requirements.requirements:
            try:
                verdict = judge(requirement, facts, appliance)
            except CheckError as error:
                per[requirement.id] = ("broken", str(error))
            else:
                per[requirement.id] = ("passed" if verdict.met else "failed", verdict.reason)
        found[ref.label] = per
    return found


def verdicts_of(path: Path, **options: Any) -> dict[str, Outcome]:
    """The one role of a small file: requirement id -> outcome."""
    [per] = outcomes(backend(path, **options)).values()
    return per
