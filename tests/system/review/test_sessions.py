"""KMS and the appliance in their sessions, and fleet mode's stricter answer (issue #26, points 4, 5, 8).

Each case is a configuration a field review tried, with the verdict AWS gives:
- a KMS key policy is evaluated with the request context the identity policies see (the instance
  session's MFA=false, its tags, kms:CallerAccount, --context), and actions no key policy governs
  are judged by IAM alone: https://docs.aws.amazon.com/kms/latest/developerguide/kms-api-permissions-reference.html,
  https://docs.aws.amazon.com/kms/latest/developerguide/conditions-kms.html#conditions-kms-caller-account;
- the appliance calls sts:AssumeRole with its role's temporary credentials: MFA is false and the
  request carries its role's tags (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-keys.html#condition-keys-multifactorauthpresent,
  …#condition-keys-principaltag); this holds in the trust evaluation, in the appliance's own
  simulation and offline, live per role and in fleet mode;
- fleet mode's double entry never passes what the engine finds denied on part of a type.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import pytest

from tests.support.accounts import Account, plain_session, seeded_account, tagged_roles
from tests.system.review.test_kms_key import ACCOUNT, DELEGATES, KEY, NAMES_OTHERS, grant, key_policy
from tests.system.review.test_never_a_false_pass import ROLE, FakeBackend, requirement_set, result
from verification.backends import Backend, Role, RoleRef, SimulationRequest, SimulationResult
from verification.backends.live import LiveBackend
from verification.backends.prefetch import PrefetchBackend
from verification.backends.snapshot import SnapshotBackend
from verification.requirements import Requirement
from verification.verdicts import AppliancePrincipal, Scope, Verdict, gather, judge
from verification.verdicts.double_entry import DISAGREE

# --- 4. KMS in the worker's session ------------------------------------------------------------------------


def kms(action: str) -> Requirement:
    return Requirement(f"permission:{action}", "permission", "s", "critical", action=action)


class SessionKeyBackend(FakeBackend):
    """The role's IAM policies allow (as AWS's simulator answers); its key policy and tags are given."""

    def __init__(self, action: str, policy: Mapping[str, Any], tags: Mapping[str, str] | None = None) -> None:
        super().__init__([result("allowed", action)])
        self.policy, self.tags = policy, dict(tags or {})

    def get_role(self, role: RoleRef) -> Role:
        return Role(role.arn, role.name, role.account, "AROAEXAMPLEEXAMPLE01", "/", self.trust, None, self.tags)

    def get_key_policy(self, key_arn: str, *, evidence_key: str) -> Mapping[str, Any]:
        assert key_arn == KEY.arn
        return self.policy


def kms_verdict(
    action: str,
    policy: Mapping[str, Any],
    tags: Mapping[str, str] | None = None,
    context: Mapping[str, str] | None = None,
) -> Verdict:
    requirement = kms(action)
    scope = Scope(context={k: (v,) for k, v in (context or {}).items()})
    backend = SessionKeyBackend(action, policy, tags)
    facts = gather(backend, RoleRef.parse(ROLE), requirement_set(requirement), None, KEY, scope)
    return judge(requirement, facts, None)


NO_MFA_DENIED = key_policy(
    grant(ROLE), grant("*", "Deny", Condition={"BoolIfExists": {"aws:MultiFactorAuthPresent": "false"}})
)
QUARANTINE_DENIED = key_policy(
    grant(f"arn:aws:iam::{ACCOUNT}:root"),
    grant("*", "Deny", Condition={"StringEquals": {"aws:PrincipalTag/quarantine": "true"}}),
)
OWN_ACCOUNT_ONLY = key_policy(
    grant(f"arn:aws:iam::{ACCOUNT}:root", Condition={"StringEquals": {"kms:CallerAccount": ACCOUNT}})
)
FROM_THE_OFFICE = key_policy(grant(ROLE, Condition={"IpAddress": {"aws:SourceIp": "192.0.2.0/24"}}))


def test_a_key_policy_deny_without_mfa_fails() -> None:
    """Before: passed. The instance session has no MFA: aws:MultiFactorAuthPresent is false."""
    verdict = kms_verdict("kms:CreateGrant", NO_MFA_DENIED)
    assert not verdict.met and verdict.cause == "explicit-deny", verdict.reason
    assert verdict.reason.startswith(f"explicitly denied by the key policy of {KEY.arn}"), verdict.reason


def test_a_key_policy_deny_on_the_roles_tag_fails() -> None:
    """Before: passed. The session carries the role's tags as aws:PrincipalTag/*."""
    verdict = kms_verdict("kms:Decrypt", QUARANTINE_DENIED, tags={"quarantine": "true"})
    assert not verdict.met and verdict.cause == "explicit-deny", verdict.reason
    assert kms_verdict("kms:Decrypt", QUARANTINE_DENIED, tags={"quarantine": "false"}).met


def test_a_caller_account_condition_on_the_callers_own_account_passes() -> None:
    """Before: failed (no kms:CallerAccount). The worker calls from the role's account."""
    verdict = kms_verdict("kms:Decrypt", OWN_ACCOUNT_ONLY)
    assert verdict.met, verdict.reason
    assert "lets IAM policies decide" in verdict.note


@pytest.mark.parametrize("action", ["kms:ListKeys", "kms:ListAliases", "kms:CreateKey"])
def test_actions_no_key_policy_governs_are_judged_by_iam_alone(action: str) -> None:
    """Before: failed against a key policy naming others. The KMS reference gives them to IAM policies alone."""
    verdict = kms_verdict(action, NAMES_OTHERS)
    assert verdict.met, verdict.reason
    assert f"no key policy governs {action}" in verdict.note
    assert "KeyPolicy" not in verdict.evidence


def test_context_values_reach_the_key_policy() -> None:
    unknown = kms_verdict("kms:Decrypt", FROM_THE_OFFICE)
    assert not unknown.met and unknown.cause == "conditional", unknown.reason
    assert kms_verdict("kms:Decrypt", FROM_THE_OFFICE, context={"aws:SourceIp": "192.0.2.10"}).met


def test_a_key_policy_that_delegates_still_judges_the_roles_own_permissions() -> None:
    verdict = kms_verdict("kms:Decrypt", DELEGATES)
    assert verdict.met and "lets IAM policies decide" in verdict.note


# --- 5. the appliance in its session (live per role, fleet, offline) -------------------------------------------

SAME = "123456789012"  # moto's account for plain test credentials
OTHER = "999999999999"
CLEAN = f"arn:aws:iam::{SAME}:role/ApplianceClean"
SANDBOX = f"arn:aws:iam::{SAME}:role/ApplianceSandbox"
ELSEWHERE = f"arn:aws:iam::{OTHER}:role/ApplianceElsewhere"
TRUST_APPLIANCE = Requirement("trust:appliance", "trust", "s", "critical", principal="appliance")


def trust(*statements: dict[str, Any]) -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": list(statements)}


def allows(*principals: str, **condition: Any) -> dict[str, Any]:
    statement: dict[str, Any] = {"Effect": "Allow", "Principal": {"AWS": list(principals)}, "Action": "sts:AssumeRole"}
    if condition:
        statement["Condition"] = condition
    return statement


def denies(**condition: Any) -> dict[str, Any]:
    return {"Effect": "Deny", "Principal": {"AWS": "*"}, "Action": "sts:AssumeRole", "Condition": condition}


SANDBOX_TAG = {"StringEquals": {"aws:PrincipalTag/env": "sandbox"}}
ASSUME_ANY = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": "*"}]}
QUARANTINED = {
    "Version": "2012-10-17",
    "Statement": [
        {"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": "*"},
        {
            "Effect": "Deny",
            "Action": "sts:AssumeRole",
            "Resource": "*",
            "Condition": {"StringEquals": {"aws:PrincipalTag/quarantine": "true"}},
        },
    ],
}
#: name → (trust policy, inline policy, tags)
ROLES: dict[str, tuple[dict[str, Any], dict[str, Any], dict[str, str]]] = {
    "ApplianceClean": (trust(allows(f"arn:aws:iam::{SAME}:root")), ASSUME_ANY, {}),
    "ApplianceSandbox": (
        trust(allows(f"arn:aws:iam::{SAME}:root")),
        QUARANTINED,
        {"env": "sandbox", "quarantine": "true"},
    ),
    "TrustMfaOnly": (trust(allows(CLEAN, Bool={"aws:MultiFactorAuthPresent": "true"})), ASSUME_ANY, {}),
    "TrustDenyNoMfa": (
        trust(allows(CLEAN), denies(BoolIfExists={"aws:MultiFactorAuthPresent": "false"})),
        ASSUME_ANY,
        {},
    ),
    "TrustDenySandbox": (trust(allows(CLEAN, SANDBOX, ELSEWHERE), denies(**SANDBOX_TAG)), ASSUME_ANY, {}),
    "TrustPlain": (trust(allows(CLEAN, SANDBOX, ELSEWHERE)), ASSUME_ANY, {}),
}


def details() -> dict[str, Any]:
    return tagged_roles(SAME, "AROASESSIONS", ROLES, policy_name="own")


@pytest.fixture(scope="module")
def account(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Account]:
    with seeded_account(details(), tmp_path_factory.mktemp("sessions") / "account.json") as seeded:
        yield seeded


def backend_for(kind: str, account: Account, appliance: str) -> Backend:
    if kind == "offline":
        return SnapshotBackend(account.snapshot)
    live = LiveBackend(session=plain_session(), endpoint_url=account.url, account=SAME)
    if kind == "live":
        return live
    verified = {appliance: [f"arn:aws:iam::{SAME}:role/{name}" for name in ROLES]} if appliance != ELSEWHERE else {}
    return PrefetchBackend(live, verified=verified)


def trust_verdict(kind: str, account: Account, role: str, appliance: str) -> Verdict:
    principal = AppliancePrincipal.parse(appliance)
    backend = backend_for(kind, account, appliance)
    facts = gather(
        backend, RoleRef.parse(f"arn:aws:iam::{SAME}:role/{role}"), requirement_set(TRUST_APPLIANCE), principal
    )
    return judge(TRUST_APPLIANCE, facts, principal)


KINDS = ("live", "fleet", "offline")


@pytest.mark.parametrize("kind", KINDS)
def test_a_trust_that_allows_only_with_mfa_fails(kind: str, account: Account) -> None:
    """Before: passed (a case reported before). The appliance's session has no MFA."""
    verdict = trust_verdict(kind, account, "TrustMfaOnly", CLEAN)
    assert not verdict.met, verdict.reason
    assert verdict.reason.startswith(f"trust policy does not allow {CLEAN}"), verdict.reason


@pytest.mark.parametrize("kind", KINDS)
def test_a_trust_that_denies_without_mfa_fails(kind: str, account: Account) -> None:
    verdict = trust_verdict(kind, account, "TrustDenyNoMfa", CLEAN)
    assert not verdict.met and verdict.cause == "trust-deny", verdict.reason


@pytest.mark.parametrize("kind", KINDS)
def test_a_trust_that_denies_on_the_appliance_roles_tag_fails(kind: str, account: Account) -> None:
    """Before: passed. The appliance's requests carry its role's tags (GetRole; GAAD in fleet mode)."""
    verdict = trust_verdict(kind, account, "TrustDenySandbox", SANDBOX)
    assert not verdict.met and verdict.cause == "trust-deny", verdict.reason
    clean = trust_verdict(kind, account, "TrustDenySandbox", CLEAN)
    assert clean.met, clean.reason


@pytest.mark.parametrize("kind", KINDS)
def test_the_appliance_roles_own_deny_on_its_tag_fails(kind: str, account: Account) -> None:
    """Before: passed. Its own simulation of sts:AssumeRole carries its tags: its Deny applies."""
    verdict = trust_verdict(kind, account, "TrustPlain", SANDBOX)
    assert not verdict.met and verdict.cause == "appliance-side", verdict.reason
    assert "its policies explicitly deny sts:AssumeRole" in verdict.reason, verdict.reason
    assert trust_verdict(kind, account, "TrustPlain", CLEAN).met


@pytest.mark.parametrize("kind", KINDS)
def test_a_tag_condition_on_an_appliance_in_another_account_depends_on_it(kind: str, account: Account) -> None:
    """Its tags cannot be read from this account: the Deny on them may apply. "Depends on", with a note."""
    verdict = trust_verdict(kind, account, "TrustDenySandbox", ELSEWHERE)
    assert not verdict.met and verdict.cause == "conditional", verdict.reason
    assert verdict.reason.startswith("depends on aws:PrincipalTag/env"), verdict.reason
    assert f"the appliance role is in account {OTHER}" in verdict.note, verdict.note
    plain = trust_verdict(kind, account, "TrustPlain", ELSEWHERE)
    assert plain.met, plain.reason


# --- 8. fleet mode follows the stricter answer -------------------------------------------------------------


class DoubleEntry(FakeBackend):
    """AWS's answer allows every resource; the engine's denies one part of the volume type (fleet mode's pair)."""

    def __init__(self, part: str) -> None:
        super().__init__()
        self.part = part

    def answer(self, request: SimulationRequest, evidence_key: str) -> list[SimulationResult]:
        out = []
        for resource in request.resources:
            aws = SimulationResult("ec2:DeleteVolume", resource, "allowed", raw={"EvalDecision": "allowed"})
            engine = SimulationResult(
                "ec2:DeleteVolume",
                resource,
                "explicitDeny" if resource == self.part else "allowed",
                matched_statements=({"SourcePolicyId": "no-deletes"},),
                raw={"EvalDecision": "explicitDeny"},
            )
            out.append(SimulationResult(**{**aws.__dict__, "second_opinion": engine}))
        return out


def test_fleet_mode_never_passes_what_its_double_entry_finds_denied_on_part_of_a_type() -> None:
    """Before: passed with a note ("a Deny on some resources"). The verdict follows the stricter answer."""
    volume = f"arn:aws:ec2:us-east-1:{ACCOUNT}:volume/vol-0b7e5a1c9d3f24680"
    requirement = kms("ec2:DeleteVolume")
    facts = gather(DoubleEntry(volume), RoleRef.parse(ROLE), requirement_set(requirement), None)
    verdict = judge(requirement, facts, None)
    assert not verdict.met and verdict.cause == "explicit-deny", verdict.reason
    assert verdict.reason.startswith("explicitly denied by no-deletes"), verdict.reason
    assert verdict.note.startswith(f"{DISAGREE}: AWS's simulator says allowed, the policy engine says explicitDeny"), (
        verdict.note
    )
    assert "the verdict follows the stricter answer" in verdict.note
    assert verdict.disagrees  # the flag the summary counts
