"""The live backend (against the local endpoint seeded with an account) and the snapshot backend
(on the same account) must agree, requirement by requirement."""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support.sessions import SessionFactory
from tests.support.snapshot_builders import details, managed, role
from verification import FIXTURES
from verification.backends import Backend, RoleRef
from verification.backends.live import LiveBackend
from verification.backends.snapshot import SnapshotBackend
from verification.endpoint import Endpoint
from verification.endpoint.seed import seed_account
from verification.requirements import load_requirement_set
from verification.snapshot import Snapshot, load_snapshot

DEMO_ACCOUNT = "320000000009"
GENERATED_ACCOUNT = "320000000001"
ACTIONS = [
    "ec2:AttachVolume",
    "ec2:CopySnapshot",
    "ec2:DescribeInstances",
    "s3:GetObject",
    "kms:Decrypt",
    "iam:PassRole",
]
PATTERNS = [*ACTIONS, "*", "ec2:*", "ec2:Attach*", "ec2:Describe*", "s3:Get?bject", "kms:*"]
CONDITIONS = [
    {"StringEquals": {"aws:RequestedRegion": "eu-west-1"}},
    {"StringNotEquals": {"aws:RequestedRegion": ["eu-west-1", "us-east-1"]}},
    {"Bool": {"aws:SecureTransport": "true"}},
    {"StringLikeIfExists": {"ec2:InstanceType": "t3.*"}},
]
CONTEXTS: list[dict[str, list[str]] | None] = [None, {"aws:RequestedRegion": ["eu-west-1"]}]
_names = itertools.count()


def moved(document: dict[str, Any], account: str) -> dict[str, Any]:
    """The same document with every ARN in ``account``."""
    return json.loads(json.dumps(document).replace("123456789012", account))  # type: ignore[no-any-return]


@st.composite
def statements(draw: st.DrawFn) -> dict[str, Any]:
    item: dict[str, Any] = {
        "Effect": draw(st.sampled_from(["Allow", "Allow", "Deny"])),
        draw(st.sampled_from(["Action", "Action", "NotAction"])): draw(
            st.lists(st.sampled_from(PATTERNS), min_size=1, max_size=3, unique=True)
        ),
        "Resource": "*",
    }
    if draw(st.booleans()):
        item["Condition"] = draw(st.sampled_from(CONDITIONS))
    return item


documents = st.builds(
    lambda items: {"Version": "2012-10-17", "Statement": items}, st.lists(statements(), min_size=1, max_size=3)
)


@st.composite
def accounts(draw: st.DrawFn) -> dict[str, Any]:
    """Roles mixing inline and managed allows, denies, wildcards, NotAction, conditions and boundaries."""
    tag = f"Eq{next(_names)}"
    policies = [managed(f"{tag}P{i}", *draw(st.lists(documents, min_size=1, max_size=2))) for i in range(2)]
    for policy in policies:  # the default is sometimes not the newest version
        versions = policy["PolicyVersionList"]
        default = draw(st.integers(1, len(versions)))
        policy["DefaultVersionId"] = f"v{default}"
        for version in versions:
            version["IsDefaultVersion"] = version["VersionId"] == f"v{default}"
    roles = []
    for number in range(draw(st.integers(1, 3))):
        inline = {f"inline{i}": d for i, d in enumerate(draw(st.lists(documents, max_size=2)))}
        attached = draw(st.lists(st.sampled_from([p["PolicyName"] for p in policies]), unique=True))
        boundary = draw(st.sampled_from([None, policies[0]["PolicyName"], policies[1]["PolicyName"]]))
        roles.append(role(f"{tag}R{number}", inline=inline, attached=attached, boundary=boundary))
    return moved(details(roles, policies), GENERATED_ACCOUNT)


def answers(backend: Backend, arn: str, actions: list[str], context: dict[str, list[str]] | None) -> list[Any]:
    """What a run would judge: each action's decision and boundary detail, and the instance profiles."""
    ref = RoleRef.parse(arn)
    results = backend.simulate(arn, actions, context=context)
    profiles = sorted(p.name for p in backend.list_instance_profiles(ref))
    trust = backend.get_role(ref).trust_policy
    return [[(r.action, r.decision, r.allowed_by_boundary) for r in results], profiles, trust]


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(account=accounts(), context=st.sampled_from(CONTEXTS))
def test_generated_accounts_agree(
    snapshot_endpoint: Endpoint, session_for: SessionFactory, account: dict[str, Any], context: Any
) -> None:
    seed_account(snapshot_endpoint.url, account)
    live = LiveBackend(endpoint_url=snapshot_endpoint.url, session=session_for(GENERATED_ACCOUNT))
    from_snapshot = SnapshotBackend(_snapshot_of(account, GENERATED_ACCOUNT))
    for entry in account["RoleDetailList"]:
        assert answers(live, entry["Arn"], ACTIONS, context) == answers(from_snapshot, entry["Arn"], ACTIONS, context)


def test_the_demo_account_agrees_on_every_requirement(snapshot_endpoint: Endpoint, session_for: SessionFactory) -> None:
    demo = moved(dict(load_snapshot(FIXTURES / "demo" / "account.json").details), DEMO_ACCOUNT)
    seed_account(snapshot_endpoint.url, demo)
    live = LiveBackend(endpoint_url=snapshot_endpoint.url, session=session_for(DEMO_ACCOUNT))
    from_snapshot = SnapshotBackend(_snapshot_of(demo, DEMO_ACCOUNT))
    actions = list(load_requirement_set().actions)
    for entry in demo["RoleDetailList"]:
        assert answers(live, entry["Arn"], actions, None) == answers(from_snapshot, entry["Arn"], actions, None)


def _snapshot_of(account: dict[str, Any], account_id: str) -> Snapshot:
    """A snapshot of ``account`` without a file (the loader is tested on its own)."""
    return Snapshot(path=Path("generated.json"), sha256="0" * 64, details=account, account_id=account_id)
