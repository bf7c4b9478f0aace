"""Templates and plans as the field writes them (issue 26, point 7): each case a field review found.

A crash, a false pass, wrong refusals, a "could not check" where the failure is certain, and
messages that named the wrong thing. Every case is run as the plugin runs it (``select``, ``check``,
then the verdicts), and asserts what a user reads.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.support.templates import (
    EC2_TRUST,
    PLAN_KNOWN,
    PROFILE,
    backend,
    document,
    grant,
    outcomes,
    template,
    verdicts_of,
    worker,
)
from verification.errors import InputError

DENY_TAGS = {"Effect": "Deny", "Action": "ec2:CreateTags", "Resource": "*"}
TRUST_YAML = (
    "{Version: '2012-10-17', Statement: [{Effect: Allow, Action: 'sts:AssumeRole', "
    "Principal: {Service: ec2.amazonaws.com, AWS: 'arn:aws:iam::111111111111:root'}}]}"
)
GRANT_YAML = (
    "{Version: '2012-10-17', Statement: [{Effect: Allow, Action: [ec2:CreateTags, ec2:DescribeInstances], "
    "Resource: '*'}]}"
)
DENY_YAML = "{Version: '2012-10-17', Statement: [{Effect: Deny, Action: ec2:CreateTags, Resource: '*'}]}"


def _yaml(tmp_path: Path, text: str, name: str = "template.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


# -- a crash: a list-valued property switched off with AWS::NoValue ---------------------------


def test_managed_policy_arns_that_may_be_no_value_are_read_in_both_branches(tmp_path: Path) -> None:
    """`ManagedPolicyArns: !If [C, [...], !Ref AWS::NoValue]` was an INTERNALERROR (not iterable)."""
    path = _yaml(
        tmp_path,
        f"""
Parameters:
  Extra: {{Type: String}}
Conditions:
  WithExtra: !Equals [!Ref Extra, 'yes']
Resources:
  Guard:
    Type: AWS::IAM::ManagedPolicy
    Properties:
      ManagedPolicyName: guard
      PolicyDocument: {DENY_YAML}
  Worker:
    Type: AWS::IAM::Role
    Properties:
      RoleName: Worker
      AssumeRolePolicyDocument: {TRUST_YAML}
      Policies: [{{PolicyName: grant, PolicyDocument: {GRANT_YAML}}}]
      ManagedPolicyArns: !If [WithExtra, [!Ref Guard], !Ref AWS::NoValue]
  Profile: {{Type: AWS::IAM::InstanceProfile, Properties: {{Roles: [!Ref Worker]}}}}
""",
    )
    per = verdicts_of(path, account="123456789012")
    assert per["permission:ec2:CreateTags"] == (
        "failed",
        "explicitly denied by guard (lines 3-8) (when condition WithExtra is true)",
    )
    assert per["permission:ec2:DescribeInstances"][0] == "passed"


def test_policies_that_may_be_no_value_are_read_in_both_branches(tmp_path: Path) -> None:
    """`Policies: !If [C, [...], !Ref AWS::NoValue]`, and one item of Policies switched off the same way."""
    path = _yaml(
        tmp_path,
        f"""
Parameters:
  Locked: {{Type: String}}
Conditions:
  IsLocked: !Equals [!Ref Locked, 'yes']
Resources:
  Worker:
    Type: AWS::IAM::Role
    Properties:
      RoleName: Worker
      AssumeRolePolicyDocument: {TRUST_YAML}
      Policies: !If
        - IsLocked
        - [{{PolicyName: grant, PolicyDocument: {GRANT_YAML}}}, {{PolicyName: lock, PolicyDocument: {DENY_YAML}}}]
        - !Ref AWS::NoValue
  Other:
    Type: AWS::IAM::Role
    Properties:
      RoleName: Other
      AssumeRolePolicyDocument: {TRUST_YAML}
      Policies:
        - {{PolicyName: grant, PolicyDocument: {GRANT_YAML}}}
        - !If [IsLocked, {{PolicyName: lock, PolicyDocument: {DENY_YAML}}}, !Ref AWS::NoValue]
  Profile: {{Type: AWS::IAM::InstanceProfile, Properties: {{Roles: [!Ref Worker, !Ref Other]}}}}
""",
    )
    found = outcomes(backend(path))
    worker_tags = found["template.yaml/Worker"]["permission:ec2:CreateTags"]
    assert worker_tags[0] == "failed"  # denied when locked, not granted at all when not
    other = found["template.yaml/Other"]
    assert other["permission:ec2:CreateTags"] == (
        "failed",
        "explicitly denied by lock (lines 3-8) (when condition IsLocked is true)",
    )
    assert other["permission:ec2:DescribeInstances"][0] == "passed"


# -- a false pass: YAML booleans in AllowedValues ---------------------------------------------


def test_an_unquoted_boolean_allowed_value_switches_its_deny_on(tmp_path: Path) -> None:
    """`AllowedValues: [true, false]` is "true"/"false" to CloudFormation, so the Deny is deployable."""
    path = _yaml(
        tmp_path,
        f"""
Parameters:
  Lockdown: {{Type: String, AllowedValues: [true, false]}}
Conditions:
  IsLockdown: !Equals [!Ref Lockdown, true]
Resources:
  Worker:
    Type: AWS::IAM::Role
    Properties:
      RoleName: Worker
      AssumeRolePolicyDocument: {TRUST_YAML}
      Policies:
        - {{PolicyName: grant, PolicyDocument: {GRANT_YAML}}}
        - !If [IsLockdown, {{PolicyName: lock, PolicyDocument: {DENY_YAML}}}, !Ref AWS::NoValue]
  Profile: {{Type: AWS::IAM::InstanceProfile, Properties: {{Roles: [!Ref Worker]}}}}
""",
    )
    per = verdicts_of(path)
    assert per["permission:ec2:CreateTags"] == (
        "failed",
        "explicitly denied by lock (lines 3-8) (when Lockdown=true)",
    )


def test_a_boolean_default_and_sub_read_as_cloudformation_reads_them(tmp_path: Path) -> None:
    """A Default of `true` equals the string "true", and `!Sub`/`!Join` write it as "true"."""
    path = _yaml(
        tmp_path,
        f"""
Parameters:
  Strict: {{Type: String, Default: true}}
Conditions:
  IsStrict: !Equals [!Ref Strict, 'true']
Resources:
  Worker:
    Type: AWS::IAM::Role
    Properties:
      RoleName: !Join ['-', [Worker, !Ref Strict]]
      AssumeRolePolicyDocument: {TRUST_YAML}
      Policies:
        - {{PolicyName: grant, PolicyDocument: {GRANT_YAML}}}
        - !If [IsStrict, {{PolicyName: !Sub 'strict-${{Strict}}', PolicyDocument: {DENY_YAML}}}, !Ref AWS::NoValue]
  Profile: {{Type: AWS::IAM::InstanceProfile, Properties: {{Roles: [!Ref Worker]}}}}
""",
    )
    made = backend(path)
    [ref] = made.select()
    assert ref.arn == "arn:aws:iam::000000000000:role/Worker-true"
    per = verdicts_of(path)
    assert per["permission:ec2:CreateTags"] == ("failed", "explicitly denied by strict-true (lines 3-8)")


# -- wrong refusals -----------------------------------------------------------------------------


def test_repeated_empty_sids_are_accepted_as_iam_accepts_them(tmp_path: Path) -> None:
    """aws_iam_policy_document wrote `"Sid": ""` on every statement (terraform-provider-aws#28537);
    IAM accepts it (getmoto/moto#2415 followed AWS). A duplicate non-empty Sid is still refused."""
    empty = document({"Sid": "", **grant("ec2:CreateTags")}, {"Sid": "", **grant("ec2:DescribeInstances")})
    statements: list[Any] = list(EC2_TRUST["Statement"]) * 2
    trust = {"Version": "2012-10-17", "Statement": [{"Sid": "", **s} for s in statements]}
    path = template(
        tmp_path,
        {
            "Worker": worker(AssumeRolePolicyDocument=trust, Policies=[{"PolicyName": "p", "PolicyDocument": empty}]),
            "Profile": PROFILE,
        },
    )
    assert {outcome for outcome, _ in verdicts_of(path).values()} == {"passed"}
    named = document({"Sid": "A", **grant("ec2:CreateTags")}, {"Sid": "A", **grant("ec2:DescribeInstances")})
    again = template(tmp_path, {"Worker": worker(Policies=[{"PolicyName": "p", "PolicyDocument": named}])}, "t2.json")
    with pytest.raises(InputError, match=r"Resources\.Worker: policy 'p': Statement\[1\]/Sid: duplicate Sid 'A'"):
        made = backend(again)
        made.check(made.select())


def test_repeated_empty_sids_in_a_plan_trust_policy_are_accepted(tmp_path: Path) -> None:
    data = json.loads(PLAN_KNOWN.read_text())
    for change in data["resource_changes"]:
        if change["address"] == "aws_iam_role.worker":
            trust = json.loads(change["change"]["after"]["assume_role_policy"])
            trust["Statement"] = [{"Sid": "", **s} for s in trust["Statement"] * 2]
            change["change"]["after"]["assume_role_policy"] = json.dumps(trust)
    path = tmp_path / "plan.json"
    path.write_text(json.dumps(data))
    per = outcomes(backend(path, account="123456789012"), roles=("aws_iam_role.worker",))
    assert per["plan.json/aws_iam_role.worker"]["trust:ec2.amazonaws.com"][0] == "passed"


NESTED: dict[str, Any] = {
    "Type": "AWS::CloudFormation::Stack",
    "Properties": {"TemplateURL": "https://example.com/child.yaml"},
}


def test_a_nested_stack_handed_nothing_of_the_role_is_noted_not_refused(tmp_path: Path) -> None:
    path = template(tmp_path, {"Worker": worker(), "Profile": PROFILE, "Child": NESTED})
    made = backend(path)
    [ref] = made.select(("Worker",))
    made.check([ref])
    [world] = made.worlds("Worker")
    assert world.notes == [
        "Resources.Child (AWS::CloudFormation::Stack) is not read: it is handed nothing that names this role"
    ]
    assert {outcome for outcome, _ in verdicts_of(path).values()} == {"passed"}


@pytest.mark.parametrize(
    "handed",
    [{"Ref": "Worker"}, {"Fn::GetAtt": ["Worker", "Arn"]}, {"Fn::Sub": "${Worker}"}, "Worker"],
    ids=["ref", "getatt", "sub", "literal-name"],
)
def test_a_nested_stack_handed_the_role_refuses_that_role(tmp_path: Path, handed: Any) -> None:
    child = {**NESTED, "Properties": {**NESTED["Properties"], "Parameters": {"WorkerRole": handed}}}
    other = worker(RoleName="Other")
    path = template(tmp_path, {"Worker": worker(), "Other": other, "Profile": PROFILE, "Child": child})
    made = backend(path)
    made.check(made.select(("Other",)))  # the other role does not depend on the nested stack
    with pytest.raises(InputError) as caught:
        made.check(made.select(("Worker",)))
    assert str(caught.value) == (
        f"template {path}: Resources.Child is a nested stack (AWS::CloudFormation::Stack) handed role Worker: "
        "its template may attach policies to Worker, and it is not read; verify with the nested template's "
        "policies in this one, or the deployed role (CDK: cdk.out/*.nested.template.json)"
    )


# -- broken where failed is certain ---------------------------------------------------------------


def test_a_deployment_time_condition_on_an_account_principal_cannot_let_a_service_in(tmp_path: Path) -> None:
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"AWS": "arn:aws:iam::111111111111:root"},
                "Action": "sts:AssumeRole",
                "Condition": {"StringEquals": {"sts:ExternalId": {"Ref": "ExternalId"}}},
            }
        ],
    }
    path = template(
        tmp_path,
        {"Worker": worker(AssumeRolePolicyDocument=trust), "Profile": PROFILE},
        Parameters={"ExternalId": {"Type": "String"}},
    )
    per = verdicts_of(path)
    assert per["trust:ec2.amazonaws.com"] == (
        "failed",
        "trust policy does not allow ec2.amazonaws.com to assume the role",
    )
    outcome, message = per["trust:appliance"]  # the appliance's own statement depends on the value
    assert outcome == "broken"
    assert "parameter ExternalId has no value and no Default" in message


# -- messages that mislead -----------------------------------------------------------------------


def test_a_rain_module_is_named_as_such(tmp_path: Path) -> None:
    path = _yaml(
        tmp_path,
        "Resources:\n  Bucket:\n    Type: !Rain::Module 'modules/bucket.yaml'\n  Worker:\n    Type: AWS::IAM::Role\n",
    )
    with pytest.raises(InputError) as caught:
        backend(path)
    assert str(caught.value) == (
        f"template {path}: Resources.Bucket.Type is a Rain module (Fn::Rain::Module): it is expanded only by "
        "`rain pkg`; give the packaged template (`rain pkg TEMPLATE > packaged.yaml`)"
    )


def test_a_role_name_with_an_unsubstituted_variable_says_so(tmp_path: Path) -> None:
    path = template(tmp_path, {"Worker": worker(RoleName="worker-${Stage}")}, Parameters={"Stage": {"Type": "String"}})
    with pytest.raises(InputError) as caught:
        made = backend(path)
        made.check(made.select())
    assert str(caught.value) == (
        f"template {path}: Resources.Worker.Properties.RoleName: 'worker-${{Stage}}' is not a valid role name: "
        "${...} is replaced only inside Fn::Sub (write !Sub or pass the value with --parameter)"
    )


def test_a_role_name_too_long_names_the_file_and_the_resource(tmp_path: Path) -> None:
    path = template(tmp_path, {"Worker": worker(RoleName="w" * 65)})
    with pytest.raises(InputError, match=r"Resources\.Worker\.Properties\.RoleName: 'w+' is not a valid role name"):
        made = backend(path)
        made.check(made.select())


def test_a_plan_trust_policy_fault_names_the_plan_and_the_resource(tmp_path: Path) -> None:
    """The trust policy was parsed during a test: "could not check: snapshot plan.json: policy 'Name'"."""
    data = json.loads(PLAN_KNOWN.read_text())
    for change in data["resource_changes"]:
        if change["address"] == "aws_iam_role.worker":
            trust = json.loads(change["change"]["after"]["assume_role_policy"])
            trust["Statement"][0]["Effect"] = "Permit"
            change["change"]["after"]["assume_role_policy"] = json.dumps(trust)
    path = tmp_path / "plan.json"
    path.write_text(json.dumps(data))
    made = backend(path, account="123456789012")
    with pytest.raises(InputError) as caught:
        made.check(made.select(("aws_iam_role.worker",)))
    assert str(caught.value) == (
        f"plan {path}: aws_iam_role.worker: trust policy: Statement[0]/Effect: must be 'Allow' or 'Deny', not 'Permit'"
    )


# -- plans of format_version 0.1 and 0.2 (Terraform 0.12 to 1.0) -------------------------------

FIELD = Path(__file__).resolve().parents[2] / "system" / "field" / "data"


def test_a_format_0_1_plan_is_read_and_linked_through_its_references() -> None:
    """checkov's Terraform 0.12.23 plan: 0.1 references name resources only (no `.name` entries), and
    the inline policy's role is known only after apply; the reference still ties it to ec2role."""
    path = FIELD / "checkov" / "tests__terraform__runner__resources__plan__tfplan.plan.json"
    assert json.loads(path.read_text())["format_version"] == "0.1"
    found = outcomes(backend(path))
    ec2 = found[f"{path.name}/aws_iam_role.ec2role"]
    assert ec2["permission:ec2:CreateTags"] == ("passed", "allowed by 123456789123-acme-corp-policy (lines 3-12)")
    assert ec2["instance-profile"] == ("passed", "in instance profile(s): 123456789123-acme-corp-profile")
    eks = found[f"{path.name}/aws_iam_role.iam_for_eks"]
    assert eks["permission:ec2:DescribeInstances"][0] == "passed"  # AWS managed policies, attached by name


def test_a_format_0_2_plan_is_read_not_refused(tmp_path: Path) -> None:
    """regula's Terraform 1.0.8 plan (format 0.2) holds no role: the line says so, not "format not supported"."""
    path = FIELD / "regula" / "rego__tests__lib__inputs__resource_view_05_tf_v1_0_infra.plan.json"
    assert json.loads(path.read_text())["format_version"] == "0.2"
    with pytest.raises(InputError) as caught:
        backend(path).select()
    assert str(caught.value) == f"plan {path}: it declares no IAM role (AWS::IAM::Role, aws_iam_role)"
    data = json.loads(PLAN_KNOWN.read_text())
    data["format_version"] = "0.2"
    again = tmp_path / "plan.json"
    again.write_text(json.dumps(data))
    per = outcomes(backend(again, account="123456789012"), roles=("aws_iam_role.worker",))
    assert {outcome for outcome, _ in per["plan.json/aws_iam_role.worker"].values()} == {"passed"}


def test_two_roles_sharing_a_name_under_exclusive_conditions_are_both_verified() -> None:
    """cfn-lint's primary_identifiers.yaml: RootRole3 (IsUsEast1) and RootRole4 (NotUsEast1) are both
    named useast1; the run judged one of them only, silently, as both had one ARN."""
    path = FIELD / "cfn-lint" / "test__fixtures__templates__good__resources__primary_identifiers.yaml"
    made = backend(path)
    refs = made.select()
    assert [ref.label.split("/", 1)[1] for ref in refs] == ["RootRole", "RootRole3", "RootRole4"]
    assert len({ref.arn for ref in refs}) == 3


def test_a_template_whose_roles_are_in_a_stack_set_says_where_they_are(tmp_path: Path) -> None:
    stack_set = {"Type": "AWS::CloudFormation::StackSet", "Properties": {"StackSetName": "s", "TemplateBody": "x"}}
    path = template(tmp_path, {"Roles": stack_set})
    with pytest.raises(InputError) as caught:
        backend(path).select()
    assert str(caught.value) == (
        f"template {path}: it declares no IAM role (AWS::IAM::Role, aws_iam_role); Roles "
        "(AWS::CloudFormation::StackSet) deploys a template of its own: verify that template itself"
    )


def test_a_nested_stack_handed_a_longer_name_is_not_handed_the_role(tmp_path: Path) -> None:
    child = {**NESTED, "Properties": {**NESTED["Properties"], "Parameters": {"Bucket": "Worker-logs"}}}
    path = template(tmp_path, {"Worker": worker(), "Profile": PROFILE, "Child": child})
    assert {outcome for outcome, _ in verdicts_of(path).values()} == {"passed"}
    arn = {**NESTED, "Properties": {**NESTED["Properties"], "Parameters": {"R": "arn:aws:iam::1:role/Worker"}}}
    refused = template(tmp_path, {"Worker": worker(), "Child": arn}, "t2.json")
    with pytest.raises(InputError, match="handed role Worker"):
        made = backend(refused)
        made.check(made.select())


def test_a_rain_directive_in_a_value_says_what_expands_it(tmp_path: Path) -> None:
    path = _yaml(
        tmp_path,
        f"""
Resources:
  Worker:
    Type: AWS::IAM::Role
    Properties:
      RoleName: Worker
      AssumeRolePolicyDocument: {TRUST_YAML}
      Policies:
        - {{PolicyName: grant, PolicyDocument: {GRANT_YAML}}}
        - PolicyName: embedded
          PolicyDocument: !Rain::Embed policy.json
  Profile: {{Type: AWS::IAM::InstanceProfile, Properties: {{Roles: [!Ref Worker]}}}}
""",
    )
    outcome, message = verdicts_of(path)["permission:ec2:CreateTags"]
    assert outcome == "broken"
    assert "!Rain::Embed is a Rain directive, expanded only by `rain pkg`" in message
    assert message.endswith("give the packaged template (`rain pkg TEMPLATE > packaged.yaml`)")


# -- AWS::LanguageExtensions: read, except Fn::ForEach ---------------------------------------------


def test_a_language_extensions_template_is_read_with_its_functions(tmp_path: Path) -> None:
    """Fn::FindInMap's DefaultValue and Fn::Length resolve as CloudFormation resolves them.
    https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/transform-aws-languageextensions.html"""
    path = _yaml(
        tmp_path,
        f"""
Transform: AWS::LanguageExtensions
Parameters:
  Stage: {{Type: String, Default: prod}}
Mappings:
  Guard: {{dev: {{Action: ec2:DeleteVolume}}}}
Conditions:
  Two: !Equals [!Length [a, b], 2]
Resources:
  Worker:
    Type: AWS::IAM::Role
    Properties:
      RoleName: Worker
      AssumeRolePolicyDocument: {TRUST_YAML}
      Policies:
        - {{PolicyName: grant, PolicyDocument: {GRANT_YAML}}}
        - PolicyName: guard
          PolicyDocument:
            Statement:
              - Effect: Deny
                Action: !FindInMap [Guard, !Ref Stage, Action, {{DefaultValue: ec2:CreateTags}}]
                Resource: '*'
                Condition: !If [Two, !Ref AWS::NoValue, {{Bool: {{aws:SecureTransport: 'false'}}}}]
  Profile: {{Type: AWS::IAM::InstanceProfile, Properties: {{Roles: [!Ref Worker]}}}}
""",
    )
    per = verdicts_of(path)
    assert per["permission:ec2:CreateTags"] == ("failed", "explicitly denied by guard (lines 2-7)")
    assert per["permission:ec2:DescribeInstances"][0] == "passed"


def test_fn_for_each_is_refused_in_one_line(tmp_path: Path) -> None:
    path = _yaml(
        tmp_path,
        "Transform: AWS::LanguageExtensions\nResources:\n  'Fn::ForEach::Roles':\n    - Name\n    - [A, B]\n"
        "    - 'Role${Name}': {Type: AWS::IAM::Role}\n",
    )
    with pytest.raises(InputError) as caught:
        backend(path)
    assert str(caught.value) == (
        f"template {path}: Resources.Fn::ForEach::Roles: Fn::ForEach (AWS::LanguageExtensions) writes resources "
        "only when CloudFormation processes the template; give the processed template from "
        "`aws cloudformation get-template --template-stage Processed`"
    )
