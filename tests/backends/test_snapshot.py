"""SnapshotBackend: the live backend's questions answered from a file, with evidence shaped like AWS's."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.support.snapshot_builders import ACCOUNT, allow, details, managed, role, role_arn
from verification.backends import RoleRef, create_backend
from verification.backends.snapshot import SnapshotBackend
from verification.errors import CheckError, InputError
from verification.policy import Explanation

ACTIONS = ["ec2:AttachVolume", "s3:GetObject", "kms:Decrypt"]


def account() -> dict[str, Any]:
    return details(
        [
            role("Worker", inline={"deny-kms": allow("kms:*", effect="Deny")}, attached=["Ec2"], profiles=["W"]),
            role("Bounded", attached=["Ec2"], boundary="OnlyS3"),
            role("Broken", inline={"bad": {"Version": "2012-10-17", "Statement": [{"Effect": "Maybe"}]}}),
        ],
        [managed("Ec2", allow("ec2:*", "kms:*")), managed("OnlyS3", allow("s3:*"))],
    )


@pytest.fixture
def snapshot_file(tmp_path: Path) -> Path:
    path = tmp_path / "account.json"
    path.write_text(json.dumps(account()))
    return path


@pytest.fixture
def backend(snapshot_file: Path) -> SnapshotBackend:
    made = create_backend("snapshot", snapshot=snapshot_file)
    assert isinstance(made, SnapshotBackend)
    return made


def test_get_role_gives_the_trust_policy_and_boundary(backend: SnapshotBackend) -> None:
    worker = backend.get_role(RoleRef.parse(role_arn("Worker")))
    assert worker.trust_policy["Statement"][0]["Principal"] == {"Service": "ec2.amazonaws.com"}
    assert worker.boundary_arn is None
    bounded = backend.get_role(RoleRef.parse(role_arn("Bounded")))
    assert bounded.boundary_arn == f"arn:aws:iam::{ACCOUNT}:policy/OnlyS3"
    [exchange] = backend.exchanges[role_arn("Bounded")]
    assert exchange.operation == "GetRole"
    assert exchange.response["Role"]["PermissionsBoundary"]["PermissionsBoundaryArn"].endswith("/OnlyS3")


def test_instance_profiles_come_from_the_role(backend: SnapshotBackend) -> None:
    [profile] = backend.list_instance_profiles(RoleRef.parse(role_arn("Worker")))
    assert (profile.name, profile.role_names) == ("W", ("Worker",))
    assert backend.list_instance_profiles(RoleRef.parse(role_arn("Bounded"))) == []


def test_simulate_decides_and_explains_each_action(backend: SnapshotBackend) -> None:
    results = backend.simulate(role_arn("Worker"), ACTIONS)
    assert [r.decision for r in results] == ["allowed", "implicitDeny", "explicitDeny"]
    assert all(isinstance(r.explanation, Explanation) for r in results)
    denied = results[2]
    assert denied.explanation.layer == "identity"
    assert [m["SourcePolicyId"] for m in denied.matched_statements] == ["deny-kms"]
    [exchange] = backend.exchanges[role_arn("Worker")]
    assert exchange.operation == "SimulatePrincipalPolicy"
    assert exchange.params["ActionNames"] == ACTIONS
    assert [r["EvalDecision"] for r in exchange.response["EvaluationResults"]] == [
        "allowed",
        "implicitDeny",
        "explicitDeny",
    ]


def test_the_boundary_limits_what_simulate_allows(backend: SnapshotBackend) -> None:
    results = backend.simulate(role_arn("Bounded"), ACTIONS)
    assert [r.decision for r in results] == ["implicitDeny", "implicitDeny", "implicitDeny"]
    assert results[0].allowed_by_boundary is False


def test_scp_files_apply_in_order(snapshot_file: Path, tmp_path: Path) -> None:
    root, account_level = tmp_path / "root.json", tmp_path / "acct.json"
    root.write_text(json.dumps(allow("*")))
    account_level.write_text(json.dumps([allow("*"), allow("ec2:AttachVolume", effect="Deny")]))
    backend = SnapshotBackend(snapshot_file, scps=[root, account_level])
    [result] = backend.simulate(role_arn("Worker"), ["ec2:AttachVolume"])
    assert result.decision == "explicitDeny"
    assert result.explanation.layer == "scp"
    assert "2 SCP level(s) from --scp" in backend.description


def test_context_and_extra_policies_are_applied(backend: SnapshotBackend) -> None:
    extra = json.dumps(allow("s3:GetObject", Condition={"StringEquals": {"aws:RequestedRegion": "eu-west-1"}}))
    [without] = backend.simulate(role_arn("Worker"), ["s3:GetObject"], extra_policies=[extra])
    [inside] = backend.simulate(
        role_arn("Worker"), ["s3:GetObject"], extra_policies=[extra], context={"aws:RequestedRegion": ["eu-west-1"]}
    )
    assert (without.decision, inside.decision) == ("implicitDeny", "allowed")


def test_description_names_the_file_and_its_hash(backend: SnapshotBackend, snapshot_file: Path) -> None:
    assert str(snapshot_file) in backend.description
    assert backend.snapshot.sha256 in backend.description
    assert backend.caller().account == ACCOUNT


def test_a_role_not_in_the_snapshot_is_bad_input_naming_role_and_file(
    backend: SnapshotBackend, snapshot_file: Path
) -> None:
    with pytest.raises(InputError) as caught:
        backend.get_role(RoleRef.parse(role_arn("Nobody")))
    assert f"snapshot {snapshot_file}: role {role_arn('Nobody')} is not in the snapshot" == str(caught.value)


def test_a_role_of_another_account_is_bad_input(backend: SnapshotBackend) -> None:
    with pytest.raises(InputError, match="is in account 999999999999, but the snapshot is of account 1234"):
        backend.get_role(RoleRef.parse("arn:aws:iam::999999999999:role/Worker"))


def test_simulating_a_principal_the_snapshot_lacks_answers_like_iam(backend: SnapshotBackend) -> None:
    """As SimulatePrincipalPolicy would: NoSuchEntity, so an appliance role that does not exist fails its check."""
    with pytest.raises(CheckError, match="is in account 999999999999") as caught:
        backend.simulate("arn:aws:iam::999999999999:role/Worker", ACTIONS)
    assert caught.value.code == "NoSuchEntity"


def test_a_policy_that_will_not_parse_is_bad_input_naming_file_and_policy(
    backend: SnapshotBackend, snapshot_file: Path
) -> None:
    with pytest.raises(InputError) as caught:
        backend.get_role(RoleRef.parse(role_arn("Broken")))
    message = str(caught.value)
    assert message.startswith(f"snapshot {snapshot_file}: policy 'bad'")
    assert "\n" not in message and "Effect" in message


def test_a_missing_policy_version_is_bad_input(tmp_path: Path) -> None:
    data = account()
    data["Policies"][0]["PolicyVersionList"] = []
    path = tmp_path / "noversion.json"
    path.write_text(json.dumps(data))
    with pytest.raises(InputError, match=r"snapshot .*noversion\.json: managed policy .*policy/Ec2: default version"):
        SnapshotBackend(path).simulate(role_arn("Worker"), ACTIONS)
