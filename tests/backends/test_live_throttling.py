"""Throttling never changes a verdict: retried calls give the clean run's verdicts, exhausted ones are broken.

Throttling is injected in botocore itself: a ``before-send`` hook answers some attempts with IAM's
throttling error instead of sending them, so botocore's own retry mode sees exactly what AWS sends.
"""

from __future__ import annotations

from typing import Any

import pytest
from botocore.awsrequest import AWSResponse, HTTPHeaders

from tests.support.fleet import Fleet, appliance_in
from verification.backends import RoleRef
from verification.backends.live import LiveBackend
from verification.errors import CheckError
from verification.fleet.accounting import ApiCounter
from verification.requirements import load_requirement_set
from verification.verdicts import AppliancePrincipal, RoleFacts, gather, judge

THROTTLED = (
    b"<ErrorResponse><Error><Type>Sender</Type><Code>Throttling</Code><Message>Rate exceeded</Message></Error>"
    b"<RequestId>throttled</RequestId></ErrorResponse>"
)


class _Raw:
    def __init__(self, body: bytes) -> None:
        self.body = body

    def stream(self, **_: Any) -> list[bytes]:
        return [self.body]


def throttled(url: str) -> AWSResponse:
    """IAM's answer to a throttled request (HTTP 400, code Throttling)."""
    headers = HTTPHeaders()
    headers["Content-Type"] = "text/xml"
    return AWSResponse(url, 400, headers, _Raw(THROTTLED))


class Throttler:
    """Answers the first ``times`` attempts of each operation with HTTP 400 Throttling."""

    def __init__(self, times: int) -> None:
        self.times = times
        self.seen: dict[str, int] = {}

    def __call__(self, request: Any, event_name: str, **_: Any) -> AWSResponse | None:
        operation = event_name.rsplit(".", 1)[-1]
        self.seen[operation] = self.seen.get(operation, 0) + 1
        if self.seen[operation] <= self.times:
            return throttled(request.url)
        return None


ACCOUNT = "444444444444"
APPLIANCE = AppliancePrincipal.parse(appliance_in(ACCOUNT))


def facts_for(fleet: Fleet, name: str, throttle: Throttler | None, counter: ApiCounter) -> RoleFacts:
    account = ACCOUNT
    backend = LiveBackend(
        endpoint_url=fleet.url,
        assume_role_arn=f"arn:aws:iam::{account}:role/RoleVerification",
        retry_mode="standard",
        max_attempts=4,
        counter=counter,
    )
    if throttle is not None:
        backend.iam.meta.events.register("before-send.iam", throttle)
    ref = RoleRef.parse(fleet.arn(account, name))
    return gather(backend, ref, load_requirement_set(), APPLIANCE)


def verdicts(facts: RoleFacts) -> dict[str, tuple[bool, str] | str]:
    """Per requirement: (met, cause), or "broken" when it could not be checked."""
    out: dict[str, tuple[bool, str] | str] = {}
    appliance = APPLIANCE
    for requirement in load_requirement_set().requirements:
        try:
            verdict = judge(requirement, facts, appliance)
            out[requirement.id] = (verdict.met, verdict.cause)
        except CheckError:
            out[requirement.id] = "broken"
    return out


@pytest.mark.parametrize("name", ["VeeamWorker01", "VeeamWorker02"])
def test_throttled_then_retried_calls_give_the_clean_verdicts(fleet: Fleet, name: str) -> None:
    """Every IAM operation is throttled twice before it answers: same verdicts, and the retries are counted."""
    clean = verdicts(facts_for(fleet, name, None, ApiCounter()))
    counter = ApiCounter()
    throttled = verdicts(facts_for(fleet, name, Throttler(times=2), counter))
    assert throttled == clean
    assert "broken" not in clean.values()
    iam_calls = counter.total("calls") - counter.total("calls", operation="sts:AssumeRole")
    # VeeamWorker02 lacks an action: its policies are read to explain it (ListRolePolicies,
    # GetRolePolicy, ListAttachedRolePolicies), each throttled twice as well.
    explaining = 3 if name == "VeeamWorker02" else 0
    # The first two attempts of GetRole, ListInstanceProfiles, Simulate (and of the reads that explain).
    assert counter.total("throttled") == 2 * (3 + explaining)
    assert counter.total("attempts") == counter.total("calls") + counter.total("throttled")
    # GetRole, ListInstanceProfiles, two simulations and the appliance role's GetRole (#26), and the reads that explain.
    assert iam_calls == 5 + explaining


def test_calls_still_throttled_after_retries_make_the_role_broken_never_passed(fleet: Fleet) -> None:
    counter = ApiCounter()
    facts = facts_for(fleet, "VeeamWorker01", Throttler(times=10**6), counter)
    assert set(verdicts(facts).values()) == {"broken"}
    assert "throttled by the API after 4 attempts" in facts.errors["role"].message
    assert counter.total("throttled", operation="iam:GetRole") == 4


def test_throttled_simulation_breaks_only_the_permission_requirements(fleet: Fleet) -> None:
    """GetRole answers; the simulation stays throttled: permissions broken, trust and profile still judged."""
    throttle = Throttler(times=0)

    def simulation_only(request: Any, event_name: str, **kwargs: Any) -> AWSResponse | None:
        if event_name.endswith(".SimulatePrincipalPolicy"):
            return throttled(request.url)
        return throttle(request, event_name, **kwargs)

    clean = verdicts(facts_for(fleet, "VeeamWorker02", None, ApiCounter()))
    outcome = verdicts(facts_for(fleet, "VeeamWorker02", simulation_only, ApiCounter()))  # type: ignore[arg-type]
    for requirement_id, verdict in outcome.items():
        if requirement_id.startswith("permission:") or requirement_id == "trust:appliance":
            assert verdict == "broken", requirement_id  # the appliance side is a simulation too
        else:
            assert verdict == clean[requirement_id], requirement_id
