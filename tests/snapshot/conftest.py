"""One local endpoint for the snapshot tests, and boto3 sessions into any account it serves."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import boto3
import pytest

from verification.endpoint import Endpoint, start_endpoint

SessionFactory = Callable[..., boto3.Session]


@pytest.fixture(scope="session")
def snapshot_endpoint() -> Iterator[Endpoint]:
    """A running endpoint on a free loopback port; tests keep apart by account and by name."""
    with start_endpoint() as running:
        yield running


@pytest.fixture(scope="session")
def session_for(snapshot_endpoint: Endpoint) -> SessionFactory:
    """``session_for(account)``: a boto3 session whose credentials moto maps to ``account``."""

    def make(account: str, role_name: str = "Tester") -> boto3.Session:
        sts = boto3.client(
            "sts",
            endpoint_url=snapshot_endpoint.url,
            region_name="us-east-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )
        credentials = sts.assume_role(RoleArn=f"arn:aws:iam::{account}:role/{role_name}", RoleSessionName="tests")[
            "Credentials"
        ]
        return boto3.Session(
            aws_access_key_id=credentials["AccessKeyId"],
            aws_secret_access_key=credentials["SecretAccessKey"],
            aws_session_token=credentials["SessionToken"],
            region_name="us-east-1",
        )

    return make
