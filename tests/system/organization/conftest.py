"""An AWS Organization on the local endpoint: OUs, member accounts with worker roles, one unassumable.

The management account is moto's default account (the dummy credentials'); every member account
holds the demo's worker roles (VeeamFLRWorker passes, VeeamFLRWorkerMisconfigured fails) and the
read-only member role ``RoleVerification``, except ``sandbox``, which lacks it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest

from tests.support.fleet import SUITE, Completed
from verification import FIXTURES
from verification.endpoint import start_endpoint
from verification.endpoint.organization import SeededOrganization, seed_organization

MEMBER_ROLE = "RoleVerification"
#: The management account: its own, so that no other test's organization (in moto's default account) meets it.
MANAGEMENT = "270000000001"
LAYOUT = {
    "member_role": MEMBER_ROLE,
    "ous": ["Workloads", "Workloads/Prod", "Workloads/Test", "Sandbox"],
    "accounts": [
        {"name": "prod-a", "ou": "Workloads/Prod"},
        {"name": "prod-b", "ou": "Workloads/Prod"},
        {"name": "test-a", "ou": "Workloads/Test"},
        {"name": "sandbox", "ou": "Sandbox", "member_role": False},
    ],
    "management_roles": True,
    "shared_roles": ["VeeamImpersonation"],
}


@dataclass(frozen=True)
class Org:
    url: str
    seeded: SeededOrganization
    #: Environment with the management account's credentials (an assumed role's keys, as moto maps them).
    env: dict[str, str]

    def account(self, name: str) -> str:
        return self.seeded.management if name == "management" else self.seeded.accounts[name]

    def ou(self, path: str) -> str:
        return self.seeded.ous[path]

    def args(self, *extra: str) -> list[str]:
        """The pytest options of an organization run against this endpoint."""
        return [
            "--organization",
            "--member-role",
            MEMBER_ROLE,
            "--role-name",
            "VeeamFLRWorker*",
            "--endpoint-url",
            self.url,
            "--aws-region",
            "us-east-1",
            *extra,
        ]


def demo_documents() -> tuple[dict[str, Any], dict[str, Any]]:
    details = json.loads((FIXTURES / "demo" / "account.json").read_text())
    policy = json.loads((FIXTURES / "verifier-policy.json").read_text())
    return details, policy


#: The ids moto draws, in turn, while the organization is seeded (it would draw them at random).
#: Fixed, every run shards alike: with two shards, each holds an assumable account (test_shards.py).
ACCOUNT_IDS = tuple(f"2700000000{n:02}" for n in range(2, 12))


@contextmanager
def fixed_account_ids() -> Iterator[None]:
    """moto's next account ids are ACCOUNT_IDS, then random again."""
    from moto.organizations import utils

    ids = iter(ACCOUNT_IDS)
    draw = utils.make_random_account_id
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(utils, "make_random_account_id", lambda: next(ids, None) or draw())
        yield


@pytest.fixture(scope="session")
def org() -> Iterator[Org]:
    """The organization, seeded once per session (dummy credentials only)."""
    saved = {key: os.environ.get(key) for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")}
    os.environ.update(AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing")
    try:
        with start_endpoint() as endpoint:
            sts = boto3.client("sts", endpoint_url=endpoint.url, region_name="us-east-1")
            credentials = sts.assume_role(RoleArn=f"arn:aws:iam::{MANAGEMENT}:role/Admin", RoleSessionName="admin")[
                "Credentials"
            ]
            details, policy = demo_documents()
            with fixed_account_ids():
                seeded = seed_organization(endpoint.url, LAYOUT, details, policy, dict(credentials))  # type: ignore[arg-type]
            env = {
                "AWS_ACCESS_KEY_ID": credentials["AccessKeyId"],
                "AWS_SECRET_ACCESS_KEY": credentials["SecretAccessKey"],
                "AWS_SESSION_TOKEN": credentials["SessionToken"],
            }
            yield Org(endpoint.url, seeded, env)
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def run_org(org: Org, args: Sequence[str], workdir: Path) -> Completed:
    """``pytest verification/suite ARGS`` in a subprocess with the management account's credentials."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "PYTEST_", "BOTO"))}
    clean.update(
        AWS_DEFAULT_REGION="us-east-1",
        AWS_CONFIG_FILE=str(workdir / "no-aws-config"),
        AWS_SHARED_CREDENTIALS_FILE=str(workdir / "no-aws-credentials"),
        AWS_EC2_METADATA_DISABLED="true",
    )
    clean.update(org.env)
    command = [sys.executable, "-m", "pytest", str(SUITE), "-p", "no:cacheprovider", *args]
    result = subprocess.run(command, cwd=workdir, env=clean, capture_output=True, text=True, timeout=300, check=False)
    return Completed(result.returncode, result.stdout, result.stderr)


def collected_ids(result: Completed) -> list[str]:
    """The node ids a ``--collect-only -q`` run lists."""
    return [line for line in result.stdout.splitlines() if "::" in line]


__all__ = ["MANAGEMENT", "MEMBER_ROLE", "Completed", "Org", "collected_ids", "run_org"]
