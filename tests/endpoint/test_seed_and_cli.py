"""Seeding from an authorization-details snapshot, and the ``python -m verification endpoint`` command."""

from __future__ import annotations

import json
import os
import selectors
import signal
import subprocess
import sys
import urllib.parse
from collections.abc import Callable
from pathlib import Path
from typing import Any

import boto3
import pytest

from verification.endpoint import Endpoint
from verification.endpoint.seed import SeedError, seed_account

ClientFactory = Callable[..., Any]
# An account no other test module seeds: moto's state is per process, shared by every endpoint in it.
ACCOUNT = "246813579024"
TRUST = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}],
}
WORKER_POLICY_V2 = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": ["ec2:Describe*", "ec2:CreateSnapshot"], "Resource": "*"}],
}
INLINE = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::backups/*"}],
}


def snapshot() -> dict[str, Any]:
    """A small account in the shape ``aws iam get-account-authorization-details`` prints."""
    policy_arn = f"arn:aws:iam::{ACCOUNT}:policy/veeam/WorkerPolicy"
    return {
        "Policies": [
            {
                "PolicyName": "WorkerPolicy",
                "Arn": policy_arn,
                "Path": "/veeam/",
                "DefaultVersionId": "v2",
                "PolicyVersionList": [
                    {"Document": {"Version": "2012-10-17", "Statement": []}, "VersionId": "v1"},
                    {
                        "Document": urllib.parse.quote(json.dumps(WORKER_POLICY_V2)),
                        "VersionId": "v2",
                        "IsDefaultVersion": True,
                    },
                ],
            },
            {
                "PolicyName": "ReadOnlyAccess",
                "Arn": "arn:aws:iam::aws:policy/ReadOnlyAccess",
                "Path": "/",
                "DefaultVersionId": "v1",
                "PolicyVersionList": [],
            },
        ],
        "RoleDetailList": [
            {
                "RoleName": "VeeamWorker",
                "Path": "/veeam/",
                "Arn": f"arn:aws:iam::{ACCOUNT}:role/veeam/VeeamWorker",
                "AssumeRolePolicyDocument": TRUST,
                "RolePolicyList": [{"PolicyName": "backups", "PolicyDocument": urllib.parse.quote(json.dumps(INLINE))}],
                "AttachedManagedPolicies": [
                    {"PolicyName": "WorkerPolicy", "PolicyArn": policy_arn},
                    {"PolicyName": "ReadOnlyAccess", "PolicyArn": "arn:aws:iam::aws:policy/ReadOnlyAccess"},
                ],
                "PermissionsBoundary": {"PermissionsBoundaryType": "Policy", "PermissionsBoundaryArn": policy_arn},
                "Tags": [{"Key": "owner", "Value": "backup-team"}],
                "InstanceProfileList": [
                    {
                        "InstanceProfileName": "VeeamWorker",
                        "Path": "/veeam/",
                        "Arn": f"arn:aws:iam::{ACCOUNT}:instance-profile/veeam/VeeamWorker",
                    }
                ],
            },
            {
                "RoleName": "Plain",
                "Path": "/",
                "Arn": f"arn:aws:iam::{ACCOUNT}:role/Plain",
                "AssumeRolePolicyDocument": json.dumps(TRUST),
            },
        ],
        "GroupDetailList": [
            {
                "GroupName": "operators",
                "Path": "/",
                "Arn": f"arn:aws:iam::{ACCOUNT}:group/operators",
                "GroupPolicyList": [{"PolicyName": "read", "PolicyDocument": INLINE}],
            }
        ],
        "UserDetailList": [
            {
                "UserName": "alice",
                "Path": "/",
                "Arn": f"arn:aws:iam::{ACCOUNT}:user/alice",
                "GroupList": ["operators"],
            }
        ],
    }


@pytest.fixture(scope="module")
def seeded(endpoint: Endpoint, client: ClientFactory) -> dict[str, Any]:
    """The snapshot seeded once, read back with ``get_account_authorization_details`` in its account."""
    seed_account(endpoint.url, snapshot())
    creds = client("sts").assume_role(RoleArn=f"arn:aws:iam::{ACCOUNT}:role/Reader", RoleSessionName="reader")
    keys = creds["Credentials"]
    iam = client("iam", key=keys["AccessKeyId"], secret=keys["SecretAccessKey"], session_token=keys["SessionToken"])
    details: dict[str, Any] = iam.get_account_authorization_details()
    return details


def test_seeded_roles_match_the_snapshot(seeded: dict[str, Any]) -> None:
    roles = {r["RoleName"]: r for r in seeded["RoleDetailList"]}
    assert set(roles) == {"VeeamWorker", "Plain"}
    worker = roles["VeeamWorker"]
    assert worker["Arn"] == f"arn:aws:iam::{ACCOUNT}:role/veeam/VeeamWorker"
    assert worker["AssumeRolePolicyDocument"] == TRUST
    assert [(p["PolicyName"], p["PolicyDocument"]) for p in worker["RolePolicyList"]] == [("backups", INLINE)]
    assert {p["PolicyArn"] for p in worker["AttachedManagedPolicies"]} == {
        "arn:aws:iam::aws:policy/ReadOnlyAccess",
        f"arn:aws:iam::{ACCOUNT}:policy/veeam/WorkerPolicy",
    }
    assert (
        worker["PermissionsBoundary"]["PermissionsBoundaryArn"] == f"arn:aws:iam::{ACCOUNT}:policy/veeam/WorkerPolicy"
    )
    assert worker["Tags"] == [{"Key": "owner", "Value": "backup-team"}]
    assert [(p["InstanceProfileName"], p["Path"]) for p in worker["InstanceProfileList"]] == [
        ("VeeamWorker", "/veeam/")
    ]


def test_seeded_policies_keep_their_default_version(seeded: dict[str, Any]) -> None:
    customer = [p for p in seeded["Policies"] if ":iam::aws:" not in p["Arn"]]
    # moto's GetAccountAuthorizationDetails leaves PolicyName out of Policies; the ARN carries it.
    assert [p["Arn"] for p in customer] == [f"arn:aws:iam::{ACCOUNT}:policy/veeam/WorkerPolicy"]
    [default] = [v for v in customer[0]["PolicyVersionList"] if v["IsDefaultVersion"]]
    assert default["Document"] == WORKER_POLICY_V2


def test_seeded_users_and_groups(seeded: dict[str, Any]) -> None:
    [user] = seeded["UserDetailList"]
    assert (user["UserName"], user["GroupList"]) == ("alice", ["operators"])
    [group] = seeded["GroupDetailList"]
    assert [p["PolicyName"] for p in group["GroupPolicyList"]] == ["read"]


def test_seeded_role_simulates_from_any_account(seeded: dict[str, Any], iam: Any) -> None:
    response = iam.simulate_principal_policy(
        PolicySourceArn=f"arn:aws:iam::{ACCOUNT}:role/veeam/VeeamWorker",
        ActionNames=["ec2:CreateSnapshot", "s3:GetObject", "ec2:TerminateInstances"],
    )
    decisions = {r["EvalActionName"]: r["EvalDecision"] for r in response["EvaluationResults"]}
    # s3:GetObject: the inline policy allows it, but the boundary (WorkerPolicy) does not.
    assert decisions == {
        "ec2:CreateSnapshot": "allowed",
        "s3:GetObject": "implicitDeny",
        "ec2:TerminateInstances": "implicitDeny",
    }


def test_seed_fault_names_the_entity(endpoint: Endpoint) -> None:
    broken = {"RoleDetailList": [{"RoleName": "NoTrust", "Arn": "arn:aws:iam::222222222222:role/NoTrust"}]}
    with pytest.raises(SeedError, match=r"RoleDetailList entry 'NoTrust': missing field 'AssumeRolePolicyDocument'"):
        seed_account(endpoint.url, broken)


# --- the command ---------------------------------------------------------------------------


def _command(*args: str) -> list[str]:
    return [sys.executable, "-m", "verification", "endpoint", *args]


def _child_env() -> dict[str, str]:
    """The test environment, minus any AWS endpoint override the parent may carry."""
    return {k: v for k, v in os.environ.items() if not k.startswith("AWS_ENDPOINT_URL")}


def test_cli_prints_url_serves_and_stops_on_sigterm(tmp_path: Path) -> None:
    seed_file = tmp_path / "account.json"
    seed_file.write_text(json.dumps(snapshot()))
    process = subprocess.Popen(
        _command("--port", "0", "--seed", str(seed_file)),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_child_env(),
    )
    try:
        assert process.stdout is not None
        with selectors.DefaultSelector() as selector:
            selector.register(process.stdout, selectors.EVENT_READ)
            assert selector.select(timeout=60), "the endpoint printed nothing within 60 s"
        line = process.stdout.readline().strip()
        assert line.startswith("IAM endpoint ready at http://127.0.0.1:")
        url = line.rsplit(" ", 1)[1]

        iam = boto3.client(
            "iam", endpoint_url=url, region_name="us-east-1", aws_access_key_id="k", aws_secret_access_key="s"
        )
        simulated = iam.simulate_principal_policy(
            PolicySourceArn=f"arn:aws:iam::{ACCOUNT}:role/veeam/VeeamWorker", ActionNames=["ec2:CreateSnapshot"]
        )
        assert simulated["EvaluationResults"][0]["EvalDecision"] == "allowed"

        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 0, err
    assert out.strip() == ""  # exactly one line was printed, the URL
    assert "Traceback" not in err


@pytest.mark.parametrize(
    ("content", "fault"),
    [
        ("{not json", "JSON"),
        (json.dumps({"RoleDetailList": [{"RoleName": "X", "Arn": "bad"}]}), "'X': 'bad' is not an IAM ARN"),
    ],
)
def test_cli_bad_seed_file_is_one_line_and_exit_2(tmp_path: Path, content: str, fault: str) -> None:
    seed_file = tmp_path / "broken.json"
    seed_file.write_text(content)

    result = subprocess.run(
        _command("--seed", str(seed_file)), capture_output=True, text=True, timeout=60, env=_child_env()
    )

    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert str(seed_file) in lines[0]
    assert fault.lower() in lines[0].lower()
    assert result.stdout == ""
