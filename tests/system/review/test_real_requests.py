"""Judge the worker's real requests (issue #26): real resource ids, instance keys, derived keys, sessions.

Every configuration a field review tried is seeded into the local endpoint (moto over HTTP, our
engine answering SimulatePrincipalPolicy) and judged three ways: live per role, live in fleet mode
(GAAD pages and double entry) and offline (a snapshot of the same account). Each case says the
verdict AWS gives and where AWS documents it.

AWS sources:
- resource ids: https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/resource-ids.html (and the table
  fixtures/scope/resource-ids.json, one source per shape)
- Resource element: https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_resource.html
- instance credentials' keys (ec2:SourceInstanceARN, aws:EC2InstanceSourceVPC,
  aws:EC2InstanceSourcePrivateIPv4, ec2:RoleDelivery):
  https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-keys.html#condition-keys-ec2instancesourcevpc
  and https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/iam-roles-for-amazon-ec2.html#ec2-instance-credentials
- AWS's guardrail on stolen instance credentials (Deny with Null ec2:SourceInstanceARN false):
  https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-keys.html#condition-keys-ec2instancesourcevpc
- aws:TagKeys: https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-keys.html#condition-keys-tagkeys
- ec2:ResourceTag and aws:ResourceTag: https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazonec2.html
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from tests.support.accounts import Account, plain_session, seeded_account, tagged_roles
from verification.backends import Backend, RoleRef
from verification.backends.live import LiveBackend
from verification.backends.prefetch import PrefetchBackend
from verification.backends.snapshot import SnapshotBackend
from verification.endpoint.seed import DEFAULT_ACCOUNT
from verification.errors import CheckError
from verification.fleet.accounting import ApiCounter
from verification.requirements import Requirement, RequirementSet
from verification.verdicts import Scope, Verdict, gather, judge

ACCOUNT = DEFAULT_ACCOUNT
REGION = "eu-west-1"
BACKENDS = ("live", "fleet", "offline")
EC2_TRUST = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}],
}
ALLOW_ALL = {"Effect": "Allow", "Action": "*", "Resource": "*"}


def doc(*statements: dict[str, Any]) -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": list(statements)}


def deny(actions: list[str], resources: list[str] | str = "*", **condition: Any) -> dict[str, Any]:
    statement: dict[str, Any] = {"Effect": "Deny", "Action": actions, "Resource": resources}
    if condition:
        statement["Condition"] = condition
    return statement


#: AWS's guardrail against instance credentials used elsewhere (the condition-keys page's example).
GUARDRAIL = {
    "Effect": "Deny",
    "Action": "*",
    "Resource": "*",
    "Condition": {
        "StringNotEquals": {"aws:EC2InstanceSourceVPC": "${aws:SourceVpc}"},
        "Null": {"ec2:SourceInstanceARN": "false"},
        "BoolIfExists": {"aws:ViaAWSService": "false"},
    },
}

ROLES: dict[str, tuple[dict[str, Any], dict[str, str]]] = {
    # point 1: a Deny on part of a type, the whole type by its id prefix, an Allow on the type alone
    "PartOfVolumes": (doc(ALLOW_ALL, deny(["ec2:DeleteVolume"], "arn:aws:ec2:*:*:volume/vol-1*")), {}),
    "SomeVolumesOnly": (
        doc({"Effect": "Allow", "Action": ["ec2:DeleteVolume"], "Resource": "arn:aws:ec2:*:*:volume/vol-0*"}),
        {},
    ),
    "AllSnapshots": (doc(ALLOW_ALL, deny(["ec2:DeleteSnapshot"], "arn:aws:ec2:*::snapshot/snap-*")), {}),
    "AllVolumes": (
        doc(
            ALLOW_ALL,
            deny(
                ["ec2:DeleteVolume", "ec2:AttachVolume", "ec2:TerminateInstances"],
                ["arn:aws:ec2:*:*:volume/vol-*", "arn:aws:ec2:*:*:instance/i-*"],
            ),
        ),
        {},
    ),
    "VolumesOnly": (
        doc(
            {"Effect": "Allow", "Action": ["ec2:DeleteVolume"], "Resource": "arn:aws:ec2:*:*:volume/*"},
            {"Effect": "Allow", "Action": ["ec2:DescribeVolumes"], "Resource": "arn:aws:ec2:*:*:volume/*"},
        ),
        {},
    ),
    # point 2: the keys instance credentials carry
    "Guardrail": (doc(ALLOW_ALL, GUARDRAIL), {}),
    "NoImdsV1": (doc(ALLOW_ALL, deny(["*"], NumericLessThan={"ec2:RoleDelivery": "2.0"})), {}),
    "FromItsInstance": (
        doc(
            {
                "Effect": "Allow",
                "Action": "*",
                "Resource": "*",
                "Condition": {"ArnLike": {"ec2:SourceInstanceARN": f"arn:aws:ec2:*:{ACCOUNT}:instance/*"}},
            }
        ),
        {},
    ),
    # point 3: derived keys
    "ApprovedTagKeys": (
        doc(
            {
                "Effect": "Allow",
                "Action": ["ec2:CreateTags", "ec2:TerminateInstances"],
                "Resource": "*",
                "Condition": {"ForAllValues:StringEquals": {"aws:TagKeys": ["Name", "Owner"]}},
            }
        ),
        {},
    ),
    "GlobalTagForm": (
        doc(
            {
                "Effect": "Allow",
                "Action": ["ec2:TerminateInstances", "ec2:CreateTags"],
                "Resource": "*",
                "Condition": {"StringEquals": {"aws:ResourceTag/EfsIndexWorker": "EfsIndexWorker"}},
            },
            {
                "Effect": "Allow",
                "Action": ["ec2:CreateTags"],
                "Resource": "*",
                "Condition": {"ForAllValues:StringEquals": {"aws:TagKeys": ["EfsIndexWorker"]}},
            },
        ),
        {},
    ),
}


def details() -> dict[str, Any]:
    return tagged_roles(ACCOUNT, "AROAREQUESTS", {name: (EC2_TRUST, *row) for name, row in ROLES.items()})


@pytest.fixture(scope="module")
def account(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Account]:
    with seeded_account(details(), tmp_path_factory.mktemp("requests") / "account.json") as seeded:
        yield seeded


def live(account: Account, counter: ApiCounter | None = None) -> LiveBackend:
    return LiveBackend(session=plain_session(REGION), endpoint_url=account.url, account=ACCOUNT, counter=counter)


def backend_for(kind: str, account: Account) -> Backend:
    if kind == "live":
        return live(account)
    if kind == "fleet":
        return PrefetchBackend(live(account))
    return SnapshotBackend(account.snapshot)


def permission(action: str, **context: str) -> Requirement:
    pairs = tuple((k, (v,)) for k, v in context.items())
    suffix = "?" + "&".join(f"{k}={v}" for k, v in context.items()) if context else ""
    return Requirement(f"permission:{action}{suffix}", "permission", "s", "critical", action=action, context=pairs)


def requirement_set(*requirements: Requirement) -> RequirementSet:
    return RequirementSet(
        "requests", "requests", "1", "https://example.invalid", "p", "b", "d", "e", "f", requirements, Path("r"), "0"
    )


def verdicts(
    backend: Backend, role: str, *requirements: Requirement, context: Mapping[str, tuple[str, ...]] | None = None
) -> dict[str, Verdict]:
    ref = RoleRef.parse(f"arn:aws:iam::{ACCOUNT}:role/{role}")
    facts = gather(
        backend, ref, requirement_set(*requirements), None, scope=Scope(regions=(REGION,), context=context or {})
    )
    assert not facts.errors, facts.errors
    return {r.id: judge(r, facts, None) for r in requirements}


VOLUME = f"arn:aws:ec2:{REGION}:{ACCOUNT}:volume/vol-0b7e5a1c9d3f24680"
SNAPSHOT = f"arn:aws:ec2:{REGION}::snapshot/snap-0b7e5a1c9d3f24680"


# --- 1. real resource ids -------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ("fleet", "offline"))
def test_a_deny_on_part_of_a_type_fails_and_names_the_part(kind: str, account: Account) -> None:
    """Before: passed (judged on volume/example). AWS denies DeleteVolume on every vol-1… volume.

    Where the policies are in hand the engine finds a volume inside vol-1* and judges it too. A live
    per-role run cannot see the policies: its one realistic ARN (vol-0…) lies outside the Deny.
    """
    found = verdicts(backend_for(kind, account), "PartOfVolumes", permission("ec2:DeleteVolume"))
    verdict = found["permission:ec2:DeleteVolume"]
    assert not verdict.met, verdict.reason
    assert verdict.reason.startswith("explicitly denied by work"), verdict.reason
    assert f"arn:aws:ec2:{REGION}:{ACCOUNT}:volume/vol-1" in verdict.reason, verdict.reason
    assert "one of the volume ARNs inside arn:aws:ec2:*:*:volume/vol-1*" in verdict.reason, verdict.reason
    judged = {c["Resource"] for c in verdict.evidence["Checks"]}
    assert VOLUME in judged and len(judged) == 2, judged


@pytest.mark.parametrize("kind", ("fleet", "offline"))
def test_an_allow_on_part_of_a_type_fails_on_the_rest_and_names_it(kind: str, account: Account) -> None:
    """The worker deletes the volumes it made, whatever their ids: an Allow on vol-0* leaves the others denied."""
    verdict = verdicts(backend_for(kind, account), "SomeVolumesOnly", permission("ec2:DeleteVolume"))[
        "permission:ec2:DeleteVolume"
    ]
    assert not verdict.met and verdict.cause == "implicit-deny", verdict.reason
    assert "one of the volume ARNs outside arn:aws:ec2:*:*:volume/vol-0*" in verdict.reason, verdict.reason


@pytest.mark.parametrize("kind", BACKENDS)
def test_a_deny_on_a_types_id_prefix_fails_everywhere(kind: str, account: Account) -> None:
    """Before: DeleteSnapshot, DeleteVolume, AttachVolume and TerminateInstances passed (ids are never "example")."""
    found = verdicts(backend_for(kind, account), "AllSnapshots", permission("ec2:DeleteSnapshot"))
    verdict = found["permission:ec2:DeleteSnapshot"]
    assert not verdict.met and verdict.cause == "explicit-deny", verdict.reason
    assert f"such as {SNAPSHOT}" in verdict.remedy, verdict.remedy
    actions = ("ec2:DeleteVolume", "ec2:AttachVolume", "ec2:TerminateInstances", "ec2:DescribeVolumes")
    found = verdicts(backend_for(kind, account), "AllVolumes", *(permission(a) for a in actions))
    assert {k for k, v in found.items() if not v.met} == {f"permission:{a}" for a in actions[:3]}


@pytest.mark.parametrize("kind", BACKENDS)
def test_an_allow_on_the_type_needs_no_literal_star(kind: str, account: Account) -> None:
    """Before: DeleteVolume failed (judged on Resource "*" too). A volume request never names "*".

    DescribeVolumes takes no resource type (the Service Authorization Reference lists none): its
    requests are on "*", which volume/* does not cover.
    """
    found = verdicts(
        backend_for(kind, account), "VolumesOnly", permission("ec2:DeleteVolume"), permission("ec2:DescribeVolumes")
    )
    assert found["permission:ec2:DeleteVolume"].met, found["permission:ec2:DeleteVolume"].reason
    assert [c["Resource"] for c in found["permission:ec2:DeleteVolume"].evidence["Checks"]] == [VOLUME]
    describe = found["permission:ec2:DescribeVolumes"]
    assert not describe.met and describe.cause == "implicit-deny", describe.reason
    assert [c["Resource"] for c in describe.evidence["Checks"]] == ["*"]


def test_live_keeps_one_simulation_per_region_with_realistic_arns(account: Account) -> None:
    counter = ApiCounter()
    backend = live(account, counter)
    verdicts(
        backend, "AllVolumes", *(permission(a) for a in ("ec2:DeleteVolume", "ec2:DeleteSnapshot", "sqs:SendMessage"))
    )
    assert counter.total(operation="iam:SimulatePrincipalPolicy") == 1
    asked = [
        e.params
        for e in backend.exchanges[f"arn:aws:iam::{ACCOUNT}:role/AllVolumes"]
        if e.operation == "SimulatePrincipalPolicy"
    ]
    assert VOLUME in asked[0]["ResourceArns"] and "*" not in asked[0]["ResourceArns"]


# --- 2. the keys instance credentials carry -----------------------------------------------------------------


@pytest.mark.parametrize("kind", BACKENDS)
def test_awss_guardrail_on_instance_credentials_fails(kind: str, account: Account) -> None:
    """Before: passed with a note. Every request made with instance credentials carries ec2:SourceInstanceARN."""
    verdict = verdicts(backend_for(kind, account), "Guardrail", permission("ec2:DeleteSnapshot"))[
        "permission:ec2:DeleteSnapshot"
    ]
    assert not verdict.met, verdict.reason
    assert "aws:EC2InstanceSourceVPC" in verdict.reason + verdict.note, (verdict.reason, verdict.note)


@pytest.mark.parametrize("kind", BACKENDS)
def test_the_guardrail_passes_with_the_workers_vpc_given(kind: str, account: Account) -> None:
    context = {"aws:EC2InstanceSourceVPC": ("vpc-0b7e5a1c9d3f24680",), "aws:SourceVpc": ("vpc-0b7e5a1c9d3f24680",)}
    found = verdicts(backend_for(kind, account), "Guardrail", permission("ec2:DeleteSnapshot"), context=context)
    assert found["permission:ec2:DeleteSnapshot"].met, found["permission:ec2:DeleteSnapshot"].reason


@pytest.mark.parametrize("kind", BACKENDS)
def test_a_deny_on_imdsv1_credentials_depends_on_role_delivery(kind: str, account: Account) -> None:
    """Before: passed. ec2:RoleDelivery is 1.0 or 2.0 as the worker's IMDS version decides: unknown, never a pass."""
    verdict = verdicts(backend_for(kind, account), "NoImdsV1", permission("ec2:DeleteSnapshot"))[
        "permission:ec2:DeleteSnapshot"
    ]
    assert not verdict.met and verdict.cause == "conditional", verdict.reason
    assert verdict.reason.startswith("depends on ec2:RoleDelivery"), verdict.reason
    assert "--context ec2:RoleDelivery=VALUE" in verdict.remedy
    known = verdicts(
        backend_for(kind, account), "NoImdsV1", permission("ec2:DeleteSnapshot"), context={"ec2:RoleDelivery": ("2.0",)}
    )
    assert known["permission:ec2:DeleteSnapshot"].met, known["permission:ec2:DeleteSnapshot"].reason


@pytest.mark.parametrize("kind", BACKENDS)
def test_an_allow_for_the_accounts_instances_passes(kind: str, account: Account) -> None:
    """Before: failed (no ec2:SourceInstanceARN). It names an instance of the verified account."""
    verdict = verdicts(backend_for(kind, account), "FromItsInstance", permission("ec2:DeleteSnapshot"))[
        "permission:ec2:DeleteSnapshot"
    ]
    assert verdict.met, verdict.reason


# --- 3. derived keys ------------------------------------------------------------------------------------------

TAGGING = permission(
    "ec2:CreateTags", **{"ec2:CreateAction": "RunInstances", "aws:RequestTag/EfsIndexWorker": "EfsIndexWorker"}
)
TERMINATE = permission("ec2:TerminateInstances", **{"ec2:ResourceTag/EfsIndexWorker": "EfsIndexWorker"})


@pytest.mark.parametrize("kind", BACKENDS)
def test_request_tags_carry_their_keys(kind: str, account: Account) -> None:
    """Before: passed. Tagging with EfsIndexWorker carries aws:TagKeys [EfsIndexWorker]: Name/Owner only denies."""
    verdict = verdicts(backend_for(kind, account), "ApprovedTagKeys", TAGGING)[TAGGING.id]
    assert not verdict.met, verdict.reason
    found = verdicts(backend_for(kind, account), "GlobalTagForm", TAGGING)
    # GlobalTagForm's second Allow admits the EfsIndexWorker key alone.
    assert found[TAGGING.id].met, found[TAGGING.id].reason


@pytest.mark.parametrize("kind", BACKENDS)
def test_the_global_tag_form_of_the_pages_ec2_condition_passes(kind: str, account: Account) -> None:
    """Before: failed. EC2 lists aws:ResourceTag and ec2:ResourceTag for TerminateInstances: the same tag."""
    verdict = verdicts(backend_for(kind, account), "GlobalTagForm", TERMINATE)[TERMINATE.id]
    assert verdict.met, verdict.reason


# --- pre-deploy: a CloudFormation template decided by the engine ---------------------------------------------


def template_outcomes(
    tmp_path: Path, *statements: dict[str, Any], context: Mapping[str, str] | None = None
) -> dict[str, Verdict]:
    """The one role of a template holding ``statements``, judged on DeleteVolume and DeleteSnapshot."""
    from verification.backends import create_backend

    path = tmp_path / "template.json"
    role = {
        "Type": "AWS::IAM::Role",
        "Properties": {
            "RoleName": "Worker",
            "AssumeRolePolicyDocument": EC2_TRUST,
            "Policies": [{"PolicyName": "work", "PolicyDocument": doc(*statements)}],
        },
    }
    path.write_text(json.dumps({"Resources": {"Worker": role}}))
    made = create_backend("template", template=path, account=ACCOUNT, region=REGION)
    requirements = requirement_set(permission("ec2:DeleteVolume"), permission("ec2:DeleteSnapshot"))
    [ref] = made.select(())  # type: ignore[attr-defined]
    scope = Scope(context={k: (v,) for k, v in (context or {}).items()})
    facts = gather(made, ref, requirements, None, scope=scope)
    return {r.id: judge(r, facts, None) for r in requirements.requirements}


def test_pre_deploy_a_deny_on_part_of_a_type_fails_naming_the_part(tmp_path: Path) -> None:
    found = template_outcomes(tmp_path, ALLOW_ALL, deny(["ec2:DeleteVolume"], "arn:aws:ec2:*:*:volume/vol-1*"))
    verdict = found["permission:ec2:DeleteVolume"]
    assert not verdict.met and "inside arn:aws:ec2:*:*:volume/vol-1*" in verdict.reason, verdict.reason
    assert found["permission:ec2:DeleteSnapshot"].met


def test_pre_deploy_the_guardrail_and_imdsv1_deny_depend_on_the_instance(tmp_path: Path) -> None:
    found = template_outcomes(tmp_path, ALLOW_ALL, GUARDRAIL)
    assert not found["permission:ec2:DeleteVolume"].met
    assert found["permission:ec2:DeleteVolume"].reason.startswith("depends on aws:EC2InstanceSourceVPC")
    imds = template_outcomes(tmp_path, ALLOW_ALL, deny(["*"], NumericLessThan={"ec2:RoleDelivery": "2.0"}))
    assert imds["permission:ec2:DeleteSnapshot"].reason.startswith("depends on ec2:RoleDelivery")
    known = template_outcomes(
        tmp_path,
        ALLOW_ALL,
        deny(["*"], NumericLessThan={"ec2:RoleDelivery": "2.0"}),
        context={"ec2:RoleDelivery": "2.0"},
    )
    assert known["permission:ec2:DeleteSnapshot"].met, known["permission:ec2:DeleteSnapshot"].reason


def test_statements_that_divide_a_type_too_finely_make_it_could_not_check(tmp_path: Path) -> None:
    """Six independent Denies on volume ids make 64 parts: not judged on some of them, never a pass."""
    denies = [deny(["ec2:DeleteVolume"], f"arn:aws:ec2:*:*:volume/vol-{'?' * k}0*") for k in range(6)]
    data = details()
    data["RoleDetailList"][0]["RolePolicyList"] = [{"PolicyName": "work", "PolicyDocument": doc(ALLOW_ALL, *denies)}]
    snapshot = tmp_path / "fine.json"
    snapshot.write_text(json.dumps(data))
    name = data["RoleDetailList"][0]["RoleName"]
    ref = RoleRef.parse(f"arn:aws:iam::{ACCOUNT}:role/{name}")
    requirement = permission("ec2:DeleteVolume")
    facts = gather(SnapshotBackend(snapshot), ref, requirement_set(requirement), None, scope=Scope(regions=(REGION,)))
    with pytest.raises(CheckError, match="divide the volume ARNs into more parts than the harness judges"):
        judge(requirement, facts, None)
