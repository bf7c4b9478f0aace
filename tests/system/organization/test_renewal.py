"""Member-role credentials renew themselves before they expire, so a night longer than a session keeps working."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

import boto3

from tests.system.organization.conftest import MEMBER_ROLE, Org
from verification.backends import RoleRef
from verification.backends.live import LiveBackend
from verification.fleet.accounting import ApiCounter


def member_backend(org: Org, duration: int | None) -> tuple[LiveBackend, ApiCounter, list[str]]:
    """A backend in prod-a through the member role; records the access key each IAM request is signed with."""
    session = boto3.Session(
        aws_access_key_id=org.env["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=org.env["AWS_SECRET_ACCESS_KEY"],
        aws_session_token=org.env["AWS_SESSION_TOKEN"],
        region_name="us-east-1",
    )
    account = org.account("prod-a")
    counter = ApiCounter()
    backend = LiveBackend(
        session=session,
        endpoint_url=org.url,
        region="us-east-1",
        assume_role_arn=f"arn:aws:iam::{account}:role/{MEMBER_ROLE}",
        account=account,
        counter=counter,
        session_duration=duration,
    )
    keys: list[str] = []

    def record(request: Any, **_: Any) -> None:
        match = re.search(r"Credential=(\w+)/", str(request.headers.get("Authorization", b""), "ascii", "replace"))
        keys.append(match[1] if match else "unsigned")

    backend.iam.meta.events.register("before-send.iam", record)
    return backend, counter, keys


def assume_role_calls(counter: ApiCounter) -> int:
    return sum(n for operation, n in counter.by_operation("attempts").items() if operation.endswith("AssumeRole"))


def test_a_short_session_is_renewed_before_it_expires_and_every_call_still_succeeds(org: Org) -> None:
    backend, counter, keys = member_backend(org, duration=900)  # STS's shortest session: 15 minutes
    role = RoleRef.parse(f"arn:aws:iam::{org.account('prod-a')}:role/VeeamFLRWorker")

    first = backend.list_roles()
    assert backend.get_role(role).name == "VeeamFLRWorker"
    again = backend.list_roles()

    # botocore renews assume-role credentials 15 minutes before they expire: a 15-minute session is
    # due at once, so each request is signed with fresh credentials from a new AssumeRole.
    assert first == again and role.arn in first
    assert len(keys) == 3 and len(set(keys)) == 3, keys
    assert assume_role_calls(counter) >= 3
    credentials = backend.session.get_credentials()
    left = (credentials._expiry_time - datetime.now(UTC)).total_seconds()  # type: ignore[union-attr]
    assert 0 < left <= 900


def test_an_hour_long_session_is_fetched_once_and_reused(org: Org) -> None:
    backend, counter, keys = member_backend(org, duration=None)

    backend.list_roles()
    backend.list_roles()
    backend.list_roles()

    assert len(set(keys)) == 1 and len(keys) == 3
    assert assume_role_calls(counter) == 1
