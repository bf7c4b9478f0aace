"""The verification suite: one test per requirement per role.

The plugin parametrizes each test with the roles under verification (``target``) and the
requirements of the test's kind (``requirement``); the ``verdict`` fixture judges one requirement
from facts fetched once per role. A requirement that could not be checked errors in setup
(Allure: broken); one that is not met fails with a one-line reason and what to change.
"""

import pytest

from verification.plugin import assert_verdict
from verification.verdicts import Verdict


@pytest.mark.verifies("instance-profile")
def test_instance_profile(verdict: Verdict) -> None:
    """The role is in at least one instance profile, so EC2 worker instances can carry it."""
    assert_verdict(verdict)


@pytest.mark.verifies("trust")
def test_trust(verdict: Verdict) -> None:
    """The role's trust policy lets the principal assume it."""
    assert_verdict(verdict)


@pytest.mark.verifies("permission")
def test_permission(verdict: Verdict) -> None:
    """The role's effective permissions allow the action."""
    assert_verdict(verdict)
