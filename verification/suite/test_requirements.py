"""The verification suite: one test per requirement per role.

The plugin makes one test per role under verification and requirement of the test's kind; setup
judges that requirement from facts fetched once per role. A requirement that could not be checked
errors in setup (Allure: broken); one that is not met fails with a one-line reason and what to change.
"""

import pytest

from verification.plugin import assert_verdict, verdict_of


@pytest.mark.verifies("instance-profile")
def test_instance_profile(request: pytest.FixtureRequest) -> None:
    """The role is in at least one instance profile, so EC2 worker instances can carry it."""
    assert_verdict(verdict_of(request))


@pytest.mark.verifies("trust")
def test_trust(request: pytest.FixtureRequest) -> None:
    """The role's trust policy lets the principal assume it."""
    assert_verdict(verdict_of(request))


@pytest.mark.verifies("account")
def test_account(request: pytest.FixtureRequest) -> None:
    """``--organization``: an account whose member role could not be assumed (its setup says why)."""
    pytest.fail("an unreachable account's test always breaks in setup")


@pytest.mark.verifies("permission")
def test_permission(request: pytest.FixtureRequest) -> None:
    """The role's effective permissions allow the action."""
    assert_verdict(verdict_of(request))


@pytest.mark.verifies("excess")
def test_excess(request: pytest.FixtureRequest) -> None:
    """With --excess fail: the role holds nothing of this risk group beyond its requirement sets."""
    from verification.plugin.excess import assert_group

    assert_group(request)
