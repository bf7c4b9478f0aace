"""trust:appliance as AWS decides it (issue #14, "same-account trust").

A trust policy that names a role of the same account by ARN grants on its own: that role needs no
allow of its own, and only an explicit deny, its permissions boundary or an SCP can block it. A
trust that names the account delegates to the caller's identity policies, and that permission is
the Impersonation role's own requirement: a note here, never this role's failure.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.support import snapshot_builders as sb
from tests.system.review.test_never_a_false_pass import (
    APPLIANCE,
    APPLIANCE_ACCOUNT,
    APPLIANCE_ROLE,
    ROLE,
    TRUST_APPLIANCE,
    FakeBackend,
    allow,
    result,
    trust_doc,
    verdict_of,
)
from verification.backends.snapshot import SnapshotBackend

ROLE_TRUST = trust_doc(allow(Principal={"AWS": APPLIANCE_ROLE}, Action="sts:AssumeRole"))
ACCOUNT_TRUST = trust_doc(allow(Principal={"AWS": APPLIANCE_ACCOUNT}, Action="sts:AssumeRole"))


def side(decision: str, **extra: Any) -> list[dict[str, Any]]:
    return [result(decision, "sts:AssumeRole", ROLE, **extra)]


def test_a_same_account_role_named_by_arn_needs_no_allow_of_its_own() -> None:
    """The field review's case: the appliance role has no policy; AWS lets it assume the role."""
    verdict = verdict_of(
        TRUST_APPLIANCE, FakeBackend(trust=ROLE_TRUST, appliance_results=side("implicitDeny")), APPLIANCE
    )
    assert verdict.met, verdict.reason
    assert verdict.reason == f"trust policy allows {APPLIANCE_ROLE} to assume the role"


def test_an_explicit_deny_in_the_appliance_role_still_blocks() -> None:
    statement = {"SourcePolicyId": "NoAssume", "StartPosition": {"Line": 3, "Column": 19}, "EndPosition": {"Line": 8}}
    answer = side("explicitDeny", MatchedStatements=[statement])
    verdict = verdict_of(TRUST_APPLIANCE, FakeBackend(trust=ROLE_TRUST, appliance_results=answer), APPLIANCE)
    assert not verdict.met
    assert verdict.reason.endswith("its policies explicitly deny sts:AssumeRole (NoAssume (lines 3-8))")


def test_the_appliance_roles_boundary_still_blocks() -> None:
    answer = side("implicitDeny", PermissionsBoundaryDecisionDetail={"AllowedByPermissionsBoundary": False})
    verdict = verdict_of(TRUST_APPLIANCE, FakeBackend(trust=ROLE_TRUST, appliance_results=answer), APPLIANCE)
    assert not verdict.met and "permissions boundary" in verdict.reason


def test_an_scp_still_blocks_in_either_dialect() -> None:
    for answer in (
        side("implicitDeny", OrganizationsDecisionDetail={"AllowedByOrganizations": False}),  # before 2026
        side("explicitDeny", OrganizationsDecisionDetail={"AllowedByOrganizations": False}),  # since 2026
        side("explicitDeny"),  # an explicit deny that names no statement is the organization's
    ):
        verdict = verdict_of(TRUST_APPLIANCE, FakeBackend(trust=ROLE_TRUST, appliance_results=answer), APPLIANCE)
        assert not verdict.met and "service control policy" in verdict.reason, answer


def test_an_account_principal_needs_the_callers_allow_reported_as_the_impersonation_roles_requirement() -> None:
    verdict = verdict_of(
        TRUST_APPLIANCE, FakeBackend(trust=ACCOUNT_TRUST, appliance_results=side("implicitDeny")), APPLIANCE
    )
    assert verdict.met
    assert "Impersonation role's requirement" in verdict.note and "implicitDeny" in verdict.note


def test_an_account_principal_with_the_callers_allow_has_no_such_note() -> None:
    verdict = verdict_of(
        TRUST_APPLIANCE, FakeBackend(trust=ACCOUNT_TRUST, appliance_results=side("allowed")), APPLIANCE
    )
    assert verdict.met and "requirement" not in verdict.note


def test_the_engine_agrees_on_a_snapshot_whose_appliance_role_has_no_policy(tmp_path: Path) -> None:
    """End to end with the engine deciding the appliance's side (offline, as the endpoint would live)."""
    document = sb.details(
        [
            sb.role("Worker", trust=ROLE_TRUST),
            sb.role("VeeamImpersonation"),  # no policy at all
        ]
    )
    path = tmp_path / "account.json"
    path.write_text(json.dumps(document))
    verdict = verdict_of(TRUST_APPLIANCE, SnapshotBackend(path), APPLIANCE)
    assert verdict.met, verdict.reason
