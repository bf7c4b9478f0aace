"""Faults between the harness and IAM: never a false pass, always a clear message, the run finishes.

The real suite runs in a subprocess against a fault-injecting proxy in front of the local endpoint
(seeded from the demo account: VeeamFLRWorker meets everything, VeeamFLRWorkerMisconfigured fails
several requirements). Each scenario's outcomes are compared with a clean run through the same proxy:
a test the fault touched must be broken with a message naming the fault; every other test must get
exactly its clean verdict; no test may pass that did not pass cleanly.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support import proxy as fp
from tests.support.suite_run import Outcome, SuiteRun, run_suite, start_endpoint_process, stop_process
from verification.plugin.summary import EXIT_UNCHECKED

ACCOUNT = "123456789012"
GOOD, BAD = "VeeamFLRWorker", "VeeamFLRWorkerMisconfigured"
APPLIANCE_NAME = "VeeamImpersonation"
APPLIANCE = f"arn:aws:iam::{ACCOUNT}:role/{APPLIANCE_NAME}"
#: A few requirements of the FLR worker set, one per root cause the misconfigured role shows.
REQUIREMENTS = """
id: fault-subset
title: FLR worker requirements, a subset for fault injection
version: "1"
source: {url: "https://helpcenter.veeam.com/docs/vbaws/guide/role_permissions_flr_prod.html",
          product: Veeam Backup for AWS, product_build: "10.0.0.232", page_updated: "2024-06-17"}
epic: Veeam Backup for AWS
feature: FLR worker role (faults)
requirements:
  - {id: instance-profile, kind: instance-profile, story: "1. In an instance profile"}
  - {id: "trust:appliance", kind: trust, principal: appliance, story: "2. The appliance may assume it"}
  - {id: "trust:ec2.amazonaws.com", kind: trust, principal: {Service: ec2.amazonaws.com}, story: "3. EC2 may"}
  - kind: permissions
    story: "4. Permissions"
    actions: [ec2:DescribeInstances, ec2:CreateVolume, ec2:DeleteSnapshot, kms:CreateGrant, sqs:SendMessage,
              ssmmessages:CreateControlChannel, iam:PassRole]
"""


#: How JUnit reports a requirement that could not be checked (setup error with the CheckError's line).
CHECK_ERROR = re.compile(r'^failed on setup with "(verification\.errors\.CheckError: )?could not check: ')


def role_id(name: str) -> str:
    return f"{ACCOUNT}/{name}"


@pytest.fixture(scope="module")
def upstream() -> Iterator[str]:
    process, url = start_endpoint_process()
    try:
        yield url
    finally:
        stop_process(process)


@pytest.fixture(scope="module")
def requirements_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("requirements") / "fault-subset.yaml"
    path.write_text(REQUIREMENTS)
    return path


def verify(proxy_url: str, requirements: Path, workdir: Path) -> SuiteRun:
    """The suite over both demo roles, through the proxy, with small retry counts, one role's calls at a time.

    Per-role mode (``--prefetch never``), one call at a time (``--concurrency 1``): each fault here
    hits one role's own calls, and faults that last from a point on (expiry, a dead endpoint) hit the
    roles after it. Fleet mode shares calls between roles (GAAD, the appliance side) and fetches
    roles together; its faults are in tests/system/scale/test_prefetch.py.
    """
    return run_suite(
        [
            "--prefetch", "never", "--concurrency", "1",
            "--requirements", str(requirements),
            "--role-arn", f"arn:aws:iam::{ACCOUNT}:role/{GOOD}",
            "--role-arn", f"arn:aws:iam::{ACCOUNT}:role/{BAD}",
            "--appliance-principal", APPLIANCE,
            "--endpoint-url", proxy_url,
            "--retry-mode", "standard", "--max-attempts", "2",
            f"--alluredir={workdir / 'allure'}",
        ],
        workdir,
    )  # fmt: skip


@pytest.fixture(scope="module")
def clean(upstream: str, requirements_file: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Outcome]:
    """The verdicts without faults: the good role passes everything, the bad one fails some."""
    with fp.FaultProxy(upstream) as proxy:
        run = verify(proxy.url, requirements_file, tmp_path_factory.mktemp("clean"))
    assert run.returncode == 1, run.summary()
    assert len(run.outcomes) == 20, run.summary()
    assert {o.status for o in run.of_role(role_id(GOOD)).values()} == {"passed"}, run.summary()
    bad = run.of_role(role_id(BAD))
    assert {o.status for o in bad.values()} == {"passed", "failed"}, run.summary()
    return run.outcomes


@dataclass(frozen=True)
class Scenario:
    """A fault, which tests it must break (None: any may break), and what their message must say (a regex)."""

    rules: Callable[[Callable[[], None]], list[fp.Rule]]
    touched: Callable[[str], bool] | None
    says: str
    fires: str


def of(role: str, *kinds: str) -> Callable[[str], bool]:
    """Tests of ``role`` whose requirement id starts with one of ``kinds`` (all of the role's without)."""
    return lambda test_id: (
        test_id.startswith(f"{role_id(role)}-") and (not kinds or test_id.split("-", 1)[1].startswith(kinds))
    )


def every(*kinds: str) -> Callable[[str], bool]:
    return lambda test_id: test_id.split("-", 1)[1].startswith(kinds)


SIMULATE, GET_ROLE, PROFILES = "SimulatePrincipalPolicy", "GetRole", "ListInstanceProfilesForRole"
#: A proxy's sign-in page, answered with HTTP 200 (what a field review met behind a corporate proxy).
LOGIN_PAGE = b"<!DOCTYPE html><html><head><title>Sign in</title></head><body><form>Proxy login</form></body></html>"
#: EC2's answer (another query-protocol service), with HTTP 200, where IAM's was expected.
EC2_ANSWER = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n<DescribeInstancesResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/">'
    b"<requestId>fault-injected</requestId><reservationSet/></DescribeInstancesResponse>"
)
SCENARIOS = {
    "throttling-bursts": Scenario(
        lambda _: [fp.Rule("throttle", fp.fraction(3, 10), fp.aws_error(400, "Throttling", "Rate exceeded"))],
        None,
        "throttled",
        "throttle",
    ),
    "http-500": Scenario(
        lambda _: [
            fp.Rule(
                "500",
                fp.action(SIMULATE, source=BAD),
                fp.respond(500, b"<html><body>Internal Server Error</body></html>", "text/html"),
            )
        ],
        of(BAD, "permission:"),
        "HTTP 500",
        "500",
    ),
    "http-503": Scenario(
        lambda _: [fp.Rule("503", fp.action(GET_ROLE, role=BAD), fp.aws_error(503, "ServiceUnavailable", "Slow down"))],
        of(BAD),
        "HTTP 503",
        "503",
    ),
    "connection-reset": Scenario(
        lambda _: [fp.Rule("reset", fp.action(PROFILES, role=BAD), fp.reset())],
        of(BAD, "instance-profile"),
        "connection failed",
        "reset",
    ),
    "slow-answers": Scenario(
        lambda _: [fp.Rule("slow", fp.action(GET_ROLE, SIMULATE, role=BAD), fp.delay(1.5))],
        lambda test_id: False,
        "",
        "slow",
    ),
    "malformed-xml": Scenario(
        lambda _: [fp.Rule("malformed", fp.action(SIMULATE, source=BAD), fp.malformed())],
        of(BAD, "permission:"),
        "malformed",
        "malformed",
    ),
    "pagination-breaks-off": Scenario(
        lambda _: [
            fp.Rule("next page", fp.next_page(), fp.aws_error(503, "ServiceUnavailable", "Try again")),
            fp.Rule("truncated", fp.action(SIMULATE, source=BAD), fp.truncated_page(keep=2)),
        ],
        of(BAD, "permission:"),
        "HTTP 503",
        "next page",
    ),
    "appliance-side-503": Scenario(
        lambda _: [
            fp.Rule("503", fp.action(SIMULATE, source=APPLIANCE_NAME), fp.aws_error(503, "ServiceUnavailable", "x"))
        ],
        every("trust:appliance"),  # the trust policy alone allows it; passing on half the facts would be a guess
        "appliance role's side.*HTTP 503",
        "503",
    ),
    "access-denied-on-simulate": Scenario(
        lambda _: [
            fp.Rule(
                "denied",
                fp.action(SIMULATE),
                fp.aws_error(403, "AccessDenied", "not authorized to perform: iam:SimulatePrincipalPolicy"),
            )
        ],
        # The appliance role is in the same account: its own side was asked about and denied, so unchecked.
        every("permission:", "trust:appliance"),
        "access denied.*iam:SimulatePrincipalPolicy",
        "denied",
    ),
    "no-such-entity": Scenario(
        lambda _: [
            fp.Rule(
                "missing",
                fp.action(GET_ROLE, role=BAD),
                fp.aws_error(404, "NoSuchEntity", f"The role with name {BAD} cannot be found."),
            )
        ],
        of(BAD),
        "does not exist",
        "missing",
    ),
    "expired-credentials": Scenario(
        lambda _: [
            fp.Rule(
                "expired",
                fp.from_first(fp.action(role=BAD)),
                fp.aws_error(403, "ExpiredToken", "The security token included in the request is expired"),
            )
        ],
        of(BAD),
        "expired or invalid",
        "expired",
    ),
    # Answers that are not IAM's (issue #14): one line naming the endpoint and what came back instead.
    "html-login-page": Scenario(
        lambda _: [fp.Rule("html", lambda call: True, fp.respond(200, LOGIN_PAGE, "text/html"))],
        lambda test_id: True,  # even the caller's identity is a login page: nothing can be checked
        r"did not answer as IAM does \(text/html\)",
        "html",
    ),
    "empty-body": Scenario(
        lambda _: [fp.Rule("empty", fp.action(SIMULATE, source=BAD), fp.respond(200, b"", "text/xml"))],
        of(BAD, "permission:"),
        r"did not answer as IAM does \(empty body\)",
        "empty",
    ),
    "json-instead-of-xml": Scenario(
        lambda _: [
            fp.Rule("json", fp.action(GET_ROLE, role=BAD), fp.respond(200, b'{"Role": {}}', "application/json"))
        ],
        of(BAD),
        r"did not answer as IAM does \(application/json\)",
        "json",
    ),
    "another-services-answer": Scenario(
        lambda _: [fp.Rule("ec2", fp.action(PROFILES, role=BAD), fp.respond(200, EC2_ANSWER, "text/xml"))],
        of(BAD, "instance-profile"),
        r"did not answer as IAM does \(<DescribeInstancesResponse> instead of <ListInstanceProfilesForRoleResponse>\)",
        "ec2",
    ),
    "endpoint-killed": Scenario(
        lambda kill_upstream: [fp.Rule("kill", fp.action(SIMULATE, source=BAD), fp.kill(kill_upstream))],
        of(BAD, "permission:", "trust:appliance"),  # the appliance side of BAD is asked after the kill
        "connection failed|endpoint unreachable",
        "kill",
    ),
}


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_fault(name: str, upstream: str, requirements_file: Path, clean: dict[str, Outcome], tmp_path: Path) -> None:
    """Touched tests are broken and say why; untouched ones keep their clean verdicts; nothing new passes."""
    scenario = SCENARIOS[name]
    own: subprocess.Popen[str] | None = None
    target = upstream
    if name == "endpoint-killed":
        own, target = start_endpoint_process()  # this one dies; the shared endpoint lives on
    killed = own
    try:
        with fp.FaultProxy(target, scenario.rules(lambda: stop_process(killed) if killed else None)) as proxy:
            run = verify(proxy.url, requirements_file, tmp_path)
    finally:
        if own is not None:
            stop_process(own)

    assert proxy.faults(scenario.fires), f"the {scenario.fires!r} fault never fired: {run.summary()}"
    # 1 when a requirement failed; 10 when some could not be checked and none failed (a nightly tells them apart).
    expected = 1 if any(o.status == "failed" for o in run.outcomes.values()) else EXIT_UNCHECKED
    assert run.returncode == expected, f"the run did not finish normally:\n{run.summary()}"
    assert "INTERNALERROR" not in run.stdout + run.stderr
    assert "Traceback" not in run.stderr, run.summary()  # session finish included
    assert "role verification" in run.stdout, run.summary()  # the summary still prints
    assert set(run.outcomes) == set(clean), run.summary()

    broken = {test_id: o for test_id, o in run.outcomes.items() if o.status == "broken"}
    for test_id, outcome in run.outcomes.items():
        before = clean[test_id]
        if outcome.status == "passed":
            assert before.status == "passed", f"{test_id} passed under the fault, but fails without it"
        if scenario.touched is not None and scenario.touched(test_id):
            assert outcome.status == "broken", f"{test_id} was touched by the fault but is {outcome.status}"
        elif scenario.touched is not None or outcome.status != "broken":
            assert (outcome.status, first_line(outcome)) == (before.status, first_line(before)), test_id
    for test_id, outcome in broken.items():
        reason = first_line(outcome)  # a CheckError's one line, not some exception that escaped
        assert CHECK_ERROR.match(reason), (test_id, outcome.message)
        assert re.search(scenario.says, reason, re.IGNORECASE), (test_id, reason)
    if scenario.touched is None:
        assert broken, "the fault broke nothing: it did not test anything"


def first_line(outcome: Outcome) -> str:
    """The one-line reason of a failed test (the part a user reads first)."""
    return outcome.message.strip().splitlines()[0] if outcome.message.strip() else ""
