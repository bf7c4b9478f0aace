"""A small fleet on the local endpoint: worker roles in five accounts, reached by assumed roles.

moto maps credentials from ``sts:AssumeRole`` into ``arn:aws:iam::<ACCOUNT>:role/...`` to that
account, so every account is reached the way a nightly run reaches production accounts.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.support.sessions import assumed_session
from verification.endpoint import Endpoint, start_endpoint
from verification.requirements import load_requirement_set

ROOT = Path(__file__).resolve().parents[2]
SUITE = ROOT / "verification" / "suite"
ACCOUNTS = ("111111111111", "222222222222", "333333333333", "444444444444", "555555555555")
#: Per account: three workers (one lacks an action), and one role no worker pattern matches.
WORKERS = ("VeeamWorker01", "VeeamWorker02", "VeeamWorker03")
MISSING_ACTION = "ec2:CopySnapshot"


@dataclass(frozen=True)
class Fleet:
    """The seeded endpoint and what is in it."""

    url: str
    accounts: tuple[str, ...]
    workers: tuple[str, ...]

    def arn(self, account: str, name: str) -> str:
        """A seeded role's ARN."""
        return f"arn:aws:iam::{account}:role/{name}"


def iam_in(url: str, account: str) -> Any:
    """An IAM client for ``account`` on the endpoint, reached by assuming a role in it."""
    return assumed_session(url, account, "Seed", session_name="seed").client("iam", endpoint_url=url)


def _seed(url: str) -> None:
    actions = list(load_requirement_set().actions)
    anywhere = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": "*"}],
    }
    for account in ACCOUNTS:
        trust = {
            "Version": "2012-10-17",
            "Statement": [
                {"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"},
                {"Effect": "Allow", "Principal": {"AWS": appliance_in(account)}, "Action": "sts:AssumeRole"},
            ],
        }
        iam = iam_in(url, account)
        iam.create_role(RoleName="VeeamImpersonation", AssumeRolePolicyDocument=json.dumps(trust))
        iam.put_role_policy(RoleName="VeeamImpersonation", PolicyName="assume", PolicyDocument=json.dumps(anywhere))
        for number, name in enumerate((*WORKERS, "Unrelated"), start=1):
            granted = [a for a in actions if not (number == 2 and a == MISSING_ACTION)]
            iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust))
            policy = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": granted, "Resource": "*"}]}
            iam.put_role_policy(RoleName=name, PolicyName="worker", PolicyDocument=json.dumps(policy))
            iam.create_instance_profile(InstanceProfileName=name)
            iam.add_role_to_instance_profile(InstanceProfileName=name, RoleName=name)


@contextmanager
def seeded_fleet() -> Iterator[Fleet]:
    """Five accounts of worker roles on one local endpoint (dummy credentials only).

    The session fixture ``fleet`` (tests/conftest.py) is its one user: moto's state is per process, so
    a second seeding in the same process would find the roles already there.
    """
    saved = {key: os.environ.get(key) for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")}
    os.environ.update(AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing")
    try:
        with start_endpoint() as endpoint:
            _seed(endpoint.url)
            yield Fleet(endpoint.url, ACCOUNTS, WORKERS)
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def appliance_in(account: str) -> str:
    """The appliance's Impersonation role seeded in ``account`` (its side is simulated only there)."""
    return f"arn:aws:iam::{account}:role/VeeamImpersonation"


def pattern_targets(fleet: Fleet, path: Path) -> Path:
    """A targets file: in every account, ``VeeamWorker*`` through an assumed verification role.

    The appliance role is in the roles' account, so its side is simulated too (the most calls).
    """
    entries = [
        {
            "account": account,
            "role_name": "VeeamWorker*",
            "assume_role_arn": f"arn:aws:iam::{account}:role/RoleVerification",
            "external_id": "nightly-verification",
            "appliance_principal": appliance_in(account),
        }
        for account in fleet.accounts
    ]
    path.write_text(json.dumps({"targets": entries}))
    return path


@dataclass
class Completed:
    """One run of the suite in a subprocess."""

    returncode: int
    stdout: str
    stderr: str


def run_suite(args: Sequence[str], workdir: Path, env: Mapping[str, str] | None = None) -> Completed:
    """``pytest verification/suite ARGS`` in a subprocess, as a user runs it (dummy credentials only)."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "PYTEST_", "BOTO"))}
    clean.update(
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_DEFAULT_REGION="us-east-1",
        AWS_CONFIG_FILE=str(workdir / "no-aws-config"),
        AWS_SHARED_CREDENTIALS_FILE=str(workdir / "no-aws-credentials"),
        AWS_EC2_METADATA_DISABLED="true",
        **(env or {}),
    )
    command = [sys.executable, "-m", "pytest", str(SUITE), "-p", "no:cacheprovider", *args]
    result = subprocess.run(command, cwd=workdir, env=clean, capture_output=True, text=True, timeout=300, check=False)
    return Completed(result.returncode, result.stdout, result.stderr)


__all__ = ["Endpoint", "Fleet", "appliance_in", "iam_in", "pattern_targets", "run_suite"]
