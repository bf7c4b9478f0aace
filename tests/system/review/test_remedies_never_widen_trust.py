"""Remedies that never widen trust, and a region of another partition named as such (issue #14).

The field review's cases: ``--appliance-principal 210987654321`` against a trust that names that
account's Impersonation role proposed trusting the whole account; ``--aws-region cn-north-1`` with
an ``arn:aws:`` role said "the role does not exist".
"""

from __future__ import annotations

import pytest

from tests.system.review.test_never_a_false_pass import (
    ROLE,
    TRUST_APPLIANCE,
    FakeBackend,
    allow,
    requirement_set,
    trust_doc,
    verdict_of,
)
from verification.backends import RoleRef
from verification.backends.live import LiveBackend
from verification.errors import CheckError
from verification.verdicts import AppliancePrincipal, Verdict, gather
from verification.verdicts.remediation import propose

OTHER_ACCOUNT = "210987654321"
IMPERSONATION = f"arn:aws:iam::{OTHER_ACCOUNT}:role/VeeamImpersonation"
ROLE_TRUST = trust_doc(allow(Principal={"AWS": IMPERSONATION}, Action="sts:AssumeRole"))
AS_ACCOUNT = AppliancePrincipal.parse(OTHER_ACCOUNT)


def test_an_account_given_where_the_trust_names_its_role_asks_for_the_role() -> None:
    with pytest.raises(CheckError) as raised:
        verdict_of(TRUST_APPLIANCE, FakeBackend(trust=ROLE_TRUST), AS_ACCOUNT)
    message = raised.value.message
    assert message.startswith("could not check: the trust names " + IMPERSONATION)
    assert f"pass --appliance-principal {IMPERSONATION}" in message


def test_an_account_given_where_the_trust_names_nothing_of_it_still_fails_as_missing() -> None:
    trust = trust_doc(allow(Principal={"Service": "ec2.amazonaws.com"}, Action="sts:AssumeRole"))
    verdict = verdict_of(TRUST_APPLIANCE, FakeBackend(trust=trust), AS_ACCOUNT)
    assert (verdict.met, verdict.cause) == (False, "trust-missing")


def test_the_remediation_never_proposes_the_whole_account_where_a_role_was_trusted() -> None:
    """Even given a trust-missing verdict for the account, the fix names the role, never the account."""
    backend = FakeBackend(trust=ROLE_TRUST)
    facts = gather(backend, RoleRef.parse(ROLE), requirement_set(TRUST_APPLIANCE), AS_ACCOUNT)
    verdict = Verdict(TRUST_APPLIANCE, facts.ref, False, "trust policy does not allow it", "trust-missing")
    fix = propose(facts, [verdict], appliance=AS_ACCOUNT)
    assert fix.trust_principals == () and fix.trust_policy is None
    assert any(IMPERSONATION in line and "instead of the account" in line for line in fix.other), fix.other


def test_the_remediation_still_proposes_an_account_trust_where_none_of_its_roles_is_named() -> None:
    trust = trust_doc(allow(Principal={"Service": "ec2.amazonaws.com"}, Action="sts:AssumeRole"))
    facts = gather(FakeBackend(trust=trust), RoleRef.parse(ROLE), requirement_set(TRUST_APPLIANCE), AS_ACCOUNT)
    verdict = Verdict(TRUST_APPLIANCE, facts.ref, False, "trust policy does not allow it", "trust-missing")
    assert propose(facts, [verdict], appliance=AS_ACCOUNT).trust_principals == (("AWS", OTHER_ACCOUNT),)


def test_a_region_of_another_partition_is_named_before_any_call(monkeypatch: pytest.MonkeyPatch) -> None:
    """From the environment too (not only --aws-region): no call is made, and both partitions are named."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    backend = LiveBackend(region="cn-north-1", endpoint_url="http://127.0.0.1:9")  # nothing listens there
    with pytest.raises(CheckError) as raised:
        backend.get_role(RoleRef.parse(ROLE))
    assert raised.value.message == f"the region cn-north-1 is in partition aws-cn, but {ROLE} is in partition aws"
    assert backend.exchanges == {}
