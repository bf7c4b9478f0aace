"""``snapshot export`` against the local endpoint: what it captures reads back the same."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import botocore.exceptions
import pytest
from botocore.stub import Stubber

from tests.support.sessions import SessionFactory
from tests.support.snapshot_builders import allow, details, managed, role
from verification.backends import RoleRef
from verification.backends.snapshot import SnapshotBackend
from verification.endpoint import Endpoint
from verification.endpoint.seed import seed_account
from verification.snapshot import load_snapshot
from verification.snapshot.export import capture_scps, export_snapshot, main

EXPORT_ACCOUNT = "310000000001"
ORG_ACCOUNT = "310000000002"


def in_account(document: dict[str, Any], account: str) -> dict[str, Any]:
    """The same document with every ARN moved to ``account``."""
    return json.loads(json.dumps(document).replace("123456789012", account))  # type: ignore[no-any-return]


def test_export_captures_every_role_and_reads_back(
    snapshot_endpoint: Endpoint, session_for: SessionFactory, tmp_path: Path
) -> None:
    names = [f"Export{number}" for number in range(3)]
    seeded = in_account(
        details(
            [role(n, attached=["ExportShared"], profiles=[n] if n.endswith("0") else []) for n in names],
            [managed("ExportShared", allow("ec2:*"), allow("ec2:AttachVolume", "s3:GetObject"), default=2)],
        ),
        EXPORT_ACCOUNT,
    )
    seed_account(snapshot_endpoint.url, seeded)
    out = tmp_path / "export.json.gz"
    path, roles, sha256 = export_snapshot(out, endpoint_url=snapshot_endpoint.url, session=session_for(EXPORT_ACCOUNT))

    snapshot = load_snapshot(path)
    assert snapshot.sha256 == sha256
    assert roles == snapshot.role_count
    assert snapshot.account_id == EXPORT_ACCOUNT
    assert snapshot.caller is not None and snapshot.caller.account == EXPORT_ACCOUNT
    assert snapshot.captured_at is not None and snapshot.captured_at.endswith("Z")
    exported = {r["RoleName"] for r in snapshot.details["RoleDetailList"]}
    assert set(names) <= exported
    assert snapshot.scps == [] and snapshot.scp_note == "the account is not in an organization: no SCPs apply"

    backend = SnapshotBackend(snapshot)
    arn = f"arn:aws:iam::{EXPORT_ACCOUNT}:role/Export0"
    results = backend.simulate(arn, ["ec2:AttachVolume", "ec2:RunInstances", "s3:GetObject"])
    assert [r.decision for r in results] == ["allowed", "implicitDeny", "allowed"]  # the default version, v2
    assert [p.name for p in backend.list_instance_profiles(RoleRef.parse(arn))] == ["Export0"]


def test_export_of_a_member_account_captures_its_scps_root_to_account(
    snapshot_endpoint: Endpoint, session_for: SessionFactory, tmp_path: Path
) -> None:
    management = session_for(ORG_ACCOUNT)
    org = management.client("organizations", endpoint_url=snapshot_endpoint.url)
    org.create_organization(FeatureSet="ALL")
    status = org.create_account(Email="member@example.com", AccountName="member")["CreateAccountStatus"]
    member = status["AccountId"]
    root = org.list_roots()["Roots"][0]["Id"]
    unit = org.create_organizational_unit(ParentId=root, Name="Workloads")["OrganizationalUnit"]["Id"]
    org.move_account(AccountId=member, SourceParentId=root, DestinationParentId=unit)
    deny = org.create_policy(
        Content=json.dumps(allow("ec2:AttachVolume", effect="Deny")),
        Description="no volumes",
        Name="DenyAttachVolume",
        Type="SERVICE_CONTROL_POLICY",
    )["Policy"]["PolicySummary"]["Id"]
    org.attach_policy(PolicyId=deny, TargetId=member)

    levels, note = capture_scps(org, member)  # as the management account (or a delegated admin) sees it
    assert note is None and levels is not None
    assert [[scp["Name"] for scp in level] for level in levels] == [
        ["FullAWSAccess"],
        ["FullAWSAccess"],
        ["FullAWSAccess", "DenyAttachVolume"],
    ]

    # A member account may not list its parents (AWS allows that to the management account and
    # delegated admins only): its export says so, and the auditor supplies the SCPs with --scp.
    member_session = session_for(member, "OrganizationAccountAccessRole")
    seed_account(snapshot_endpoint.url, in_account(details([role("Member", inline={"i": allow("ec2:*")})]), member))
    path, _, _ = export_snapshot(tmp_path / "member.json", endpoint_url=snapshot_endpoint.url, session=member_session)
    snapshot = load_snapshot(path)
    assert snapshot.scps is None and (snapshot.scp_note or "").startswith("SCPs not captured")
    # A member may read its organization's id: its roles' sessions carry it as aws:PrincipalOrgID.
    assert snapshot.organization_id == org.describe_organization()["Organization"]["Id"]
    scp_files = []
    for number, level in enumerate(levels):
        scp_files.append(tmp_path / f"level{number}.json")
        scp_files[-1].write_text(json.dumps(level))
    backend = SnapshotBackend(snapshot, scps=scp_files)
    attach, run = backend.simulate(f"arn:aws:iam::{member}:role/Member", ["ec2:AttachVolume", "ec2:RunInstances"])
    assert (attach.decision, attach.explanation.layer) == ("explicitDeny", "scp")
    assert run.decision == "allowed"

    management_snapshot = load_snapshot(
        export_snapshot(tmp_path / "m.json", endpoint_url=snapshot_endpoint.url, session=management)[0]
    )
    assert management_snapshot.scps == []
    assert "management account" in (management_snapshot.scp_note or "")


def test_a_caller_who_may_not_read_organizations_is_noted_and_the_export_goes_on() -> None:
    client = botocore.session.get_session().create_client(
        "organizations", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"
    )
    with Stubber(client) as stub:
        stub.add_client_error("describe_organization", service_error_code="AccessDeniedException")
        scps, note = capture_scps(client, "123456789012")
    assert scps is None
    assert note == (
        "SCPs not captured: the caller may not read AWS Organizations (AccessDeniedException on DescribeOrganization)"
    )


def test_a_missing_profile_is_one_line_and_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["export", "--out", str(tmp_path / "x.json"), "--aws-profile", "no-such-profile-here"])
    assert code == 2
    assert capsys.readouterr().err.strip() == (
        "snapshot export: AWS profile 'no-such-profile-here' is not configured: check ~/.aws/config or --aws-profile"
    )
    assert not (tmp_path / "x.json").exists()
