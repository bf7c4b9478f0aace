"""boto3 sessions into an account of the local endpoint, reached by ``sts:AssumeRole`` as a nightly run reaches one.

moto maps the credentials an ``AssumeRole`` into ``arn:aws:iam::<ACCOUNT>:role/...`` hands out to that
account, so one endpoint serves many accounts. Written once here; the fixture ``session_for``
(tests/conftest.py) and the tests that need another role, region or session name call it.
"""

from __future__ import annotations

from collections.abc import Callable

import boto3

#: ``session_for(account, role_name="Tester")``: the fixture's type.
SessionFactory = Callable[..., boto3.Session]


def assumed_session(
    url: str, account: str, role: str, *, session_name: str = "tests", region: str = "us-east-1"
) -> boto3.Session:
    """A session with the credentials of ``role`` in ``account``, assumed on the endpoint at ``url``."""
    sts = boto3.client(
        "sts",
        endpoint_url=url,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    credentials = sts.assume_role(RoleArn=f"arn:aws:iam::{account}:role/{role}", RoleSessionName=session_name)[
        "Credentials"
    ]
    return boto3.Session(
        aws_access_key_id=credentials["AccessKeyId"],
        aws_secret_access_key=credentials["SecretAccessKey"],
        aws_session_token=credentials["SessionToken"],
        region_name=region,
    )
