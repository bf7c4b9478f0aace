"""Read-only, enforced: every IAM, STS and Organizations operation either passes the guard or is refused unsent.

The expected allowlist is written out here independently of ``verification.safety.readonly`` so that a
widened pattern in the module fails a test instead of silently admitting a write.
"""

from __future__ import annotations

import re
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import botocore.exceptions
import botocore.session
import pytest
from botocore.config import Config

from verification.backends.live import LiveBackend
from verification.safety import readonly

SOURCE = Path(readonly.__file__).resolve().parents[1]
#: The local endpoint seeds moto at 127.0.0.1 by design (create_role, put_role_policy, ...): it is the
#: only package that may make its own clients. Everything else goes through readonly.client.
EXEMPT = (SOURCE / "endpoint", SOURCE / "safety" / "readonly.py")
SERVICES = ("iam", "sts", "organizations", "kms")
#: Verbs that change state; none of them may ever pass.
MUTATING = (
    "Accept", "Acquire", "Activate", "Add", "Associate", "Attach", "Cancel", "Change", "Close", "Create",
    "Deactivate", "Decline", "Delete", "Deregister", "Detach", "Disable", "Enable", "Generate", "Invite",
    "Leave", "Move", "Put", "Register", "Reject", "Remove", "Reset", "Resync", "Send", "Set", "Tag",
    "Terminate", "Untag", "Update", "Upload",
)  # fmt: skip
ORGANIZATIONS_READS = {
    "DescribeOrganization",
    "ListParents",
    "ListPoliciesForTarget",
    "DescribePolicy",
    # --organization: the tree from the root down (verification/fleet/organization.py).
    "ListRoots",
    "ListAccountsForParent",
    "ListOrganizationalUnitsForParent",
}


def expected_allowed(service: str, operation: str) -> bool:
    """The allowlist spelled out: IAM reads and simulations, two STS calls, seven Organizations reads, one KMS read."""
    if service == "iam":
        return operation.startswith(("Get", "List")) or operation in ("SimulatePrincipalPolicy", "SimulateCustomPolicy")
    if service == "sts":
        return operation in ("GetCallerIdentity", "AssumeRole")
    if service == "kms":
        return operation == "GetKeyPolicy"  # --kms-key; never Decrypt, GenerateDataKey or any other KMS call
    return operation in ORGANIZATIONS_READS


def operations() -> Iterator[tuple[str, str]]:
    session = botocore.session.get_session()
    for service in SERVICES:
        for operation in session.get_service_model(service).operation_names:
            yield service, operation


@pytest.fixture(scope="module")
def closed_port() -> int:
    """A 127.0.0.1 port nothing listens on: a request that leaves would fail to connect, not be refused."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


@pytest.fixture(scope="module")
def clients(closed_port: int) -> dict[str, tuple[Any, list[str]]]:
    """Guarded clients aimed at the closed port, each with a log of every request that reached the sender."""
    session = boto3.Session(aws_access_key_id="dummy", aws_secret_access_key="dummy", region_name="us-east-1")
    config = Config(retries={"total_max_attempts": 1}, connect_timeout=2, read_timeout=2)
    made: dict[str, tuple[Any, list[str]]] = {}
    for service in SERVICES:
        client = readonly.client(session, service, endpoint_url=f"http://127.0.0.1:{closed_port}", config=config)
        sent: list[str] = []
        client.meta.events.register("before-send", lambda request, sent=sent, **_: sent.append(request.url))
        made[service] = (client, sent)
    return made


def call(client: Any, operation: str) -> BaseException:
    """Call an operation with no parameters; return what stopped it (nothing may succeed here)."""
    method = getattr(client, botocore.xform_name(operation))
    with pytest.raises(Exception) as caught:
        method()
    return caught.value


@pytest.mark.parametrize(("service", "operation"), list(operations()), ids=lambda v: str(v))
def test_guard_passes_exactly_the_allowlisted_reads(
    clients: dict[str, tuple[Any, list[str]]], service: str, operation: str
) -> None:
    """Allowed reads get past the guard (to parameter checks or the wire); everything else is refused unsent."""
    client, sent = clients[service]
    before = len(sent)
    stopped = call(client, operation)
    if expected_allowed(service, operation):
        assert not isinstance(stopped, readonly.ReadOnlyViolation), f"{service}:{operation} is a read but was refused"
        passed_guard = (botocore.exceptions.ParamValidationError, botocore.exceptions.EndpointConnectionError)
        assert isinstance(stopped, passed_guard), f"{service}:{operation}: {stopped!r}"
    else:
        assert isinstance(stopped, readonly.ReadOnlyViolation), f"{service}:{operation} was not refused: {stopped!r}"
        assert f"{service}:{operation}" in str(stopped)
        assert len(sent) == before, f"{service}:{operation} reached the sender before being refused"


def test_every_mutating_verb_is_refused() -> None:
    """No operation named with a mutating verb is on the allowlist, in any of the three services."""
    mutating = [(s, o) for s, o in operations() if o.startswith(MUTATING)]
    assert len(mutating) > 120  # the service models really were walked
    assert [f"{s}:{o}" for s, o in mutating if readonly.is_allowed(s, o)] == []


def test_allowed_read_is_really_sent(clients: dict[str, tuple[Any, list[str]]]) -> None:
    """The guard is no blanket block: GetCallerIdentity reaches the wire (and fails to connect)."""
    client, sent = clients["sts"]
    before = len(sent)
    assert isinstance(call(client, "GetCallerIdentity"), botocore.exceptions.EndpointConnectionError)
    assert len(sent) == before + 1


def test_live_backend_clients_are_guarded(closed_port: int) -> None:
    """The clients the live backend builds refuse writes too (the guard is on the harness's real path)."""
    session = boto3.Session(aws_access_key_id="dummy", aws_secret_access_key="dummy", region_name="us-east-1")
    backend = LiveBackend(session=session, endpoint_url=f"http://127.0.0.1:{closed_port}", max_attempts=1)
    with pytest.raises(readonly.ReadOnlyViolation, match="iam:CreateRole"):
        backend.iam.create_role(RoleName="x", AssumeRolePolicyDocument="{}")
    with pytest.raises(readonly.ReadOnlyViolation, match="iam:PutRolePolicy"):
        backend.iam.put_role_policy(RoleName="x", PolicyName="p", PolicyDocument="{}")
    with pytest.raises(readonly.ReadOnlyViolation, match="sts:GetSessionToken"):
        backend.sts.get_session_token()


def harness_sources() -> list[Path]:
    return [
        path
        for path in sorted(SOURCE.rglob("*.py"))
        if not any(path == exempt or exempt in path.parents for exempt in EXEMPT)
    ]


def test_no_client_bypasses_the_guard() -> None:
    """Outside the local endpoint, clients are made only by readonly.client (no session.client, boto3.client)."""
    pattern = re.compile(r"\.(client|resource)\(")
    offenders = [
        f"{path.relative_to(SOURCE.parent)}:{number}: {line.strip()}"
        for path in harness_sources()
        for number, line in enumerate(path.read_text().splitlines(), start=1)
        if pattern.search(line) and "readonly.client(" not in line
    ]
    assert offenders == [], "make these clients with verification.safety.readonly.client(session, service, ...)"


def called_operations() -> dict[str, set[str]]:
    """Every operation the harness source calls, by method or paginator name, per service."""
    text = "\n".join(path.read_text() for path in harness_sources())
    session = botocore.session.get_session()
    found: dict[str, set[str]] = {}
    for service in SERVICES:
        for operation in session.get_service_model(service).operation_names:
            name = botocore.xform_name(operation)
            # On a client (``self.iam.x``, ``organizations.x``, ``client("sts").x``), or as a paginator name;
            # the backends' own methods (``backend.list_instance_profiles``) are not API calls.
            # Organizations reads of --organization go through ``pages("Operation", params)``.
            if re.search(
                rf"\b(iam|sts|organizations|kms|\))\.{name}\b|get_paginator\(\s*[\"']{name}[\"']"
                rf"|\bpages\(\s*\"{operation}\"",
                text,
            ):
                found.setdefault(service, set()).add(operation)
    return found


def test_every_operation_the_harness_calls_is_allowed() -> None:
    """What the live backend and snapshot export call is on the allowlist (else a run would break, not write)."""
    called = called_operations()
    assert {"GetRole", "ListInstanceProfilesForRole", "SimulatePrincipalPolicy"} <= called["iam"]
    assert "GetCallerIdentity" in called["sts"]
    refused = [f"{s}:{o}" for s, ops in called.items() for o in sorted(ops) if not readonly.is_allowed(s, o)]
    assert refused == []


def test_organizations_allowlist_is_what_snapshot_export_and_discovery_read() -> None:
    """The Organizations allowlist is minimal: each entry is an operation the exporter or --organization calls."""
    allowed = {o for s, o in operations() if s == "organizations" and readonly.is_allowed(s, o)}
    assert allowed == ORGANIZATIONS_READS
    assert called_operations().get("organizations", set()) == allowed
