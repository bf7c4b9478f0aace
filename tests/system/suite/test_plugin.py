"""Black-box tests of the plugin: the verification suite run as a user runs it.

The demo runs (``pytest verification/suite --demo``, serial and with ``-n 2``) and two snapshot
runs happen once per module, each in a fresh process in its own directory; the tests read their
output. Outcomes are per test id, as ``-rA`` lists them; reasons come from the FAILURES section.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Callable

import pytest

from verification import FIXTURES
from verification.plugin import SUITE_DIR
from verification.requirements import load_requirement_set

pytest_plugins = ["pytester"]

ACCOUNT = "123456789012"
COMPLIANT = f"arn:aws:iam::{ACCOUNT}:role/VeeamFLRWorker"
MISCONFIGURED = f"arn:aws:iam::{ACCOUNT}:role/VeeamFLRWorkerMisconfigured"
DEMO_ACCOUNT = FIXTURES / "demo" / "account.json"
REQUIREMENTS = load_requirement_set()
IDS = [r.id for r in REQUIREMENTS.requirements]
CLOSED_PORT = "http://127.0.0.1:9"

#: What fixtures/demo/demo.yaml says the misconfigured role gets wrong, as requirement ids.
BROKEN_SERVICES = ("kms", "sqs", "ssmmessages")
EXPECTED_FAILING = {
    "instance-profile",
    "trust:ec2.amazonaws.com",
    "permission:ec2:DeleteSnapshot",
    "permission:ec2:DeleteVolume",
    *(f"permission:{action}" for action in REQUIREMENTS.actions if action.split(":")[0] in BROKEN_SERVICES),
}
OUTCOME = re.compile(r"^(PASSED|FAILED|ERROR) (\S+\.py::\w+\[\S+\])")
FAILURE_HEADER = re.compile(r"^_+ (test_\w+\[.+\]) _+$")


def node_label(role_arn: str, requirement_id: str) -> str:
    """The readable id part of a test: ``account/role-requirement``."""
    return f"{ACCOUNT}/{role_arn.rsplit('/', 1)[1]}-{requirement_id}"


class Run:
    """One finished run of the suite in a subprocess: exit code, output, outcomes and reasons by test id."""

    def __init__(self, completed: subprocess.CompletedProcess[str], duration: float) -> None:
        self.ret = completed.returncode
        self.text = completed.stdout + completed.stderr
        self.lines = self.text.splitlines()
        self.result = pytest.RunResult(self.ret, completed.stdout.splitlines(), completed.stderr.splitlines(), duration)
        self.outcomes: dict[str, str] = {}
        for line in self.lines:
            if match := OUTCOME.match(line):
                self.outcomes[match[2].split("[", 1)[1].rstrip("]")] = match[1]
        self.reasons: dict[str, str] = {}
        for number, line in enumerate(self.lines[:-1]):
            if match := FAILURE_HEADER.match(line):
                self.reasons[match[1].split("[", 1)[1].rstrip("]")] = self.lines[number + 1]

    def ids(self, outcome: str, role_arn: str) -> set[str]:
        """The requirement ids of one role that ended with ``outcome``."""
        prefix = node_label(role_arn, "")
        return {
            key.removeprefix(prefix)
            for key, value in self.outcomes.items()
            if value == outcome and key.startswith(prefix)
        }


def _clean_env() -> dict[str, str]:
    """The environment for a child run: no AWS beyond a closed local port, nothing of this run's xdist."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "AWS_"))}
    env.update(AWS_ENDPOINT_URL=CLOSED_PORT, AWS_ACCESS_KEY_ID="plugin-tests", AWS_SECRET_ACCESS_KEY="plugin-tests")
    return env


@pytest.fixture(scope="module")
def run_suite(tmp_path_factory: pytest.TempPathFactory) -> Callable[..., Run]:
    """Run ``pytest verification/suite ARGS`` in a new process and directory (reports land there)."""

    def run(*args: str) -> Run:
        folder = tmp_path_factory.mktemp("run")
        command = [sys.executable, "-m", "pytest", str(SUITE_DIR), "-p", "no:cacheprovider", "-rA", *args]
        started = time.monotonic()
        completed = subprocess.run(command, cwd=folder, env=_clean_env(), capture_output=True, text=True, timeout=300)
        return Run(completed, time.monotonic() - started)

    return run


@pytest.fixture(scope="module")
def demo(run_suite: Callable[..., Run]) -> Run:
    """``pytest --demo``, serial."""
    return run_suite("--demo")


@pytest.fixture(scope="module")
def demo_xdist(run_suite: Callable[..., Run]) -> Run:
    """``pytest --demo -n 2``."""
    return run_suite("--demo", "-n", "2")


@pytest.fixture(scope="module")
def offline(run_suite: Callable[..., Run]) -> Run:
    """The compliant role from a snapshot of the demo account, with no --appliance-principal."""
    return run_suite("--role-arn", COMPLIANT, "--snapshot", str(DEMO_ACCOUNT))


def test_demo_compliant_role_passes_every_requirement(demo: Run) -> None:
    """VeeamFLRWorker meets every requirement of the set: one passed test per requirement."""
    assert demo.ids("PASSED", COMPLIANT) == set(IDS), demo.text
    assert not demo.ids("FAILED", COMPLIANT) and not demo.ids("ERROR", COMPLIANT)
    assert any(line.startswith("ok") and COMPLIANT + ":" in line for line in demo.lines)


def test_demo_misconfigured_role_fails_exactly_what_the_demo_breaks(demo: Run) -> None:
    """The misconfigured role fails the requirements demo.yaml describes, and passes the rest."""
    assert len(EXPECTED_FAILING) == 22
    assert demo.ids("FAILED", MISCONFIGURED) == EXPECTED_FAILING, demo.text
    assert demo.ids("PASSED", MISCONFIGURED) == set(IDS) - EXPECTED_FAILING
    demo.result.assert_outcomes(passed=2 * len(IDS) - 22, failed=22)
    assert demo.ret == 1


@pytest.mark.parametrize(
    ("requirement_id", "reason"),
    [
        ("permission:ec2:DeleteSnapshot", "explicitly denied"),
        ("permission:kms:CreateGrant", "boundary"),
        ("permission:sqs:SendMessage", "implicitly denied"),  # allowed in eu-west-1 only; the demo runs in us-east-1
        ("permission:ssmmessages:OpenDataChannel", "implicitly denied"),
        ("trust:ec2.amazonaws.com", "trust policy does not allow ec2.amazonaws.com"),
        ("instance-profile", "not in any instance profile"),
    ],
)
def test_demo_failures_say_why(demo: Run, requirement_id: str, reason: str) -> None:
    """Each failing requirement's first line names its root cause."""
    assert reason in demo.reasons[node_label(MISCONFIGURED, requirement_id)], demo.reasons


def test_demo_test_ids_read_account_role_requirement(demo: Run) -> None:
    """Every test id is ``account/role-requirement``, one per requirement per role."""
    expected = {node_label(arn, rid) for arn in (COMPLIANT, MISCONFIGURED) for rid in IDS}
    assert set(demo.outcomes) == expected


def test_demo_header_names_the_requirement_set_and_source(demo: Run) -> None:
    """The report header says what is verified against what, and where the facts come from."""
    assert f"requirements: {REQUIREMENTS.id} {REQUIREMENTS.version} (sha256 {REQUIREMENTS.sha256[:16]}" in demo.text
    assert re.search(r"source: demo: local IAM endpoint at http://127\.0\.0\.1:\d+ ", demo.text), demo.text


def test_xdist_gives_the_same_outcomes_as_serial(demo: Run, demo_xdist: Run) -> None:
    """``-n 2`` verifies the same tests with the same outcomes."""
    assert "created: 2/2 workers" in demo_xdist.text, demo_xdist.text
    assert demo_xdist.outcomes == demo.outcomes
    assert demo_xdist.ret == demo.ret


def test_without_appliance_principal_trust_appliance_is_skipped(offline: Run) -> None:
    """No --appliance-principal: trust:appliance is skipped with the reason; nothing else is."""
    offline.result.assert_outcomes(passed=len(IDS) - 1, skipped=1)
    assert "trust:appliance" not in offline.ids("PASSED", COMPLIANT)
    assert "trust:appliance will be skipped: no --appliance-principal given" in offline.text
    assert re.search(r"^SKIPPED \[1\] .*no --appliance-principal given", offline.text, re.MULTILINE)


def test_k_selects_by_requirement_id(run_suite: Callable[..., Run]) -> None:
    """``-k permission:ec2:DeleteSnapshot`` runs that requirement only, and it fails with its reason."""
    run = run_suite("--role-arn", MISCONFIGURED, "--snapshot", str(DEMO_ACCOUNT), "-k", "permission:ec2:DeleteSnapshot")
    run.result.assert_outcomes(failed=1, deselected=len(IDS) - 1)
    assert run.ids("FAILED", MISCONFIGURED) == {"permission:ec2:DeleteSnapshot"}
    assert "explicitly denied" in run.reasons[node_label(MISCONFIGURED, "permission:ec2:DeleteSnapshot")]


@pytest.fixture
def no_aws(monkeypatch: pytest.MonkeyPatch) -> None:
    """In-process runs: AWS calls could only reach a closed local port."""
    for key, value in _clean_env().items():
        if key.startswith("AWS_"):
            monkeypatch.setenv(key, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")


@pytest.mark.usefixtures("no_aws")
def test_nothing_to_verify_says_how_to_name_a_role(pytester: pytest.Pytester) -> None:
    """No role named: exit 4 and one line on how to name one (or try the demo)."""
    result = pytester.runpytest(str(SUITE_DIR), "-p", "no:cacheprovider")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        ["ERROR: nothing to verify: name a role with --role-arn arn:aws:iam::ACCOUNT:role/NAME*--demo"]
    )


@pytest.mark.usefixtures("no_aws")
@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--role-arn", f"arn:aws:iam::{ACCOUNT}:user/alice"), "*--role-arn*is not a role ARN*"),
        (("--role-arn", COMPLIANT, "--requirements", "no-such-set"), "ERROR: unknown requirement set 'no-such-set'*"),
        (("--role-arn", COMPLIANT, "--aws-region", "mars-east-1"), "*--aws-region 'mars-east-1' is not an AWS region*"),
    ],
    ids=["bad-role-arn", "bad-requirement-set", "bad-region"],
)
def test_options_are_checked_before_any_api_call(
    pytester: pytest.Pytester, args: tuple[str, ...], message: str
) -> None:
    """With an unreachable endpoint, a bad option is reported as itself: no connection was attempted."""
    result = pytester.runpytest(str(SUITE_DIR), "-p", "no:cacheprovider", "--endpoint-url", CLOSED_PORT, *args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([message])
    text = "\n".join(result.outlines + result.errlines)
    assert "connect" not in text.lower() and "could not check" not in text


@pytest.mark.usefixtures("no_aws")
def test_the_unreachable_endpoint_is_noticed_when_called(pytester: pytest.Pytester) -> None:
    """The control for the test above: with good options the closed port does get called, and every
    requirement is broken (could not check), none passed."""
    result = pytester.runpytest(
        str(SUITE_DIR),
        "-p",
        "no:cacheprovider",
        "--endpoint-url",
        CLOSED_PORT,
        "--max-attempts",
        "1",
        "--role-arn",
        COMPLIANT,
    )
    result.assert_outcomes(errors=len(IDS) - 1, skipped=1)
    assert "could not check" in "\n".join(result.outlines)


def test_failure_summary_keeps_teardown_output_while_silent_phases_are_forgotten(pytester: pytest.Pytester) -> None:
    """A failing test's teardown output still shows in the failure summary of a verification run,
    while passed setup and teardown phases with nothing to print are not kept (two per test, a
    thousand roles: held in memory and scanned once per failure by the summary)."""
    pytester.makepyfile(
        test_extra="""
        import pytest

        @pytest.fixture
        def noisy():
            yield
            print("teardown says hello")

        def test_fails(noisy):
            assert False
        """
    )
    pytester.makeconftest(
        """
        def pytest_terminal_summary(terminalreporter):
            kept = terminalreporter.stats.get("", [])
            without = sum(not r.sections for r in kept)
            terminalreporter.write_line(f"kept phase reports: {len(kept)}; without output: {without}")
        """
    )
    result = pytester.runpytest(
        str(SUITE_DIR),
        "test_extra.py",
        "-p",
        "no:cacheprovider",
        "--role-arn",
        COMPLIANT,
        "--snapshot",
        str(DEMO_ACCOUNT),
    )
    result.assert_outcomes(passed=len(IDS) - 1, skipped=1, failed=1)
    result.stdout.fnmatch_lines(["*Captured stdout teardown*", "teardown says hello"])
    result.stdout.fnmatch_lines(["kept phase reports: 1; without output: 0"])


def test_other_test_modules_collect_as_before(pytester: pytest.Pytester) -> None:
    """The plugin loads in every pytest run of its environment: a module-level name that is not a
    test function (a mark decorator, a mock) must not break collecting someone else's tests."""
    pytester.makepyfile(
        test_unrelated="""
        from unittest.mock import Mock
        from pytest import mark

        thing = Mock()

        @mark.parametrize("n", [1, 2])
        def test_ok(n):
            assert n
        """
    )
    pytester.runpytest("-p", "no:cacheprovider").assert_outcomes(passed=2)


def test_last_failed_reruns_only_the_failed_requirements(pytester: pytest.Pytester) -> None:
    """``--lf`` after a run with failures selects exactly those requirements (node ids carry the
    role and requirement as their parameters, as pytest reads them back from its cache)."""
    args = [str(SUITE_DIR), "--role-arn", MISCONFIGURED, "--snapshot", str(DEMO_ACCOUNT)]
    first = pytester.runpytest(*args)
    failed = first.parseoutcomes()["failed"]
    assert failed == len(EXPECTED_FAILING)
    again = pytester.runpytest(*args, "--lf")
    again.assert_outcomes(failed=failed)  # and nothing that passed ran again


def test_durations_still_show_the_setup_phase(pytester: pytest.Pytester) -> None:
    """Setup is where a role's facts are fetched and judged: ``--durations`` must still list it."""
    result = pytester.runpytest(
        str(SUITE_DIR),
        "-p",
        "no:cacheprovider",
        "--role-arn",
        COMPLIANT,
        "--snapshot",
        str(DEMO_ACCOUNT),
        "--durations=5",
        "--durations-min=0",
    )
    result.stdout.fnmatch_lines(["*slowest 5 durations*", "* setup *test_*"])


@pytest.mark.parametrize(
    ("source", "outcome"),
    [
        (
            "import pytest\npytestmark = pytest.mark.verifies('instance-profile')\n\n"
            "def test_profile(request):\n    assert_verdict(verdict_of(request))\n",
            # The bundled suite (84 passed, trust:appliance skipped) runs beside the user's own check.
            {"passed": 85, "skipped": 1},
        ),
        (
            "import pytest\n\nclass TestRole:\n    @pytest.mark.verifies('instance-profile')\n"
            "    def test_profile(self, request):\n        assert_verdict(verdict_of(request))\n",
            "mark module-level test functions with verifies(kind), not methods",
        ),
    ],
    ids=["module-pytestmark", "method"],
)
def test_verifies_on_a_module_works_and_on_a_method_is_refused(
    pytester: pytest.Pytester, source: str, outcome: dict[str, int] | str
) -> None:
    """A module marked as a whole gets one test per role; a marked method is refused in one line
    (it would otherwise run as one test with no verdict)."""
    pytester.makepyfile(test_own="from verification.plugin import assert_verdict, verdict_of\n" + source)
    result = pytester.runpytest(
        "test_own.py", "-p", "no:cacheprovider", "-rA", "--role-arn", COMPLIANT, "--snapshot", str(DEMO_ACCOUNT)
    )
    if isinstance(outcome, dict):
        result.assert_outcomes(**outcome)
        result.stdout.fnmatch_lines(["PASSED test_own.py::test_profile[[]*/VeeamFLRWorker-instance-profile[]]"])
    else:
        assert result.ret != 0
        assert outcome in "\n".join(result.outlines + result.errlines)


#: Allure history ids that the previous release (parametrized tests) gave these results: Allure's
#: trends and per-test history follow a test by this id from one night to the next.
EARLIER_HISTORY_IDS = {
    "instance-profile": "ae3c1a3b2ac0c1a8097bda0baebc0023",
    "permission:ec2:DeleteSnapshot": "8ffbb65f9a192b7e7caa8b1c33b1fd78",
}


def test_allure_history_ids_carry_on_from_earlier_runs(pytester: pytest.Pytester) -> None:
    pytester.runpytest(
        str(SUITE_DIR),
        "-p",
        "no:cacheprovider",
        "--role-arn",
        MISCONFIGURED,
        "--snapshot",
        str(DEMO_ACCOUNT),
        "-k",
        "instance-profile or DeleteSnapshot",
        "--alluredir",
        "allure",
    ).assert_outcomes(failed=2, deselected=len(IDS) - 2)
    history = {}
    for path in (pytester.path / "allure").glob("*-result.json"):
        result = json.loads(path.read_text())
        requirement = next(label["value"] for label in result["labels"] if label["name"] == "requirement")
        history[requirement] = result["historyId"]
    assert history == EARLIER_HISTORY_IDS


def test_roles_take_turns_by_account_and_each_roles_tests_stay_together() -> None:
    """Facts fetched ahead draw on every account's pace at once; a role's tests still run in a row."""
    from verification.plugin.collection import pytest_collection_modifyitems
    from verification.plugin.keys import CASE_KEY, Case

    class Item:
        def __init__(self, role: str, requirement: str) -> None:
            self.stash = pytest.Stash()
            if role:
                self.stash[CASE_KEY] = Case(role, requirement)
            self.name = f"{role.rsplit('/', 1)[-1] or 'own test'}:{requirement}"

    def role(account: str, name: str) -> str:
        return f"arn:aws:iam::{account}:role/{name}"

    items = [
        Item(role("111111111111", "A1"), "trust"),
        Item(role("111111111111", "A1"), "profile"),
        Item(role("111111111111", "A2"), "trust"),
        Item(role("111111111111", "A3"), "trust"),
        Item(role("222222222222", "B1"), "trust"),
        Item("", "mine"),
        Item(role("222222222222", "B2"), "trust"),
        Item(role("111111111111", "A2"), "profile"),
    ]
    pytest_collection_modifyitems(items)  # type: ignore[arg-type]
    assert [item.name for item in items] == [
        "own test:mine",
        "A1:trust",
        "A1:profile",
        "B1:trust",
        "A2:trust",
        "A2:profile",
        "B2:trust",
        "A3:trust",
    ]
