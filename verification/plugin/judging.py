"""Judging: each verification test's setup reaches its verdict; the call asserts it; reports are tallied.

A requirement that could not be checked errors in setup with one line (Allure: broken, never a
pass); one that is not met fails with a one-line reason and what to change.
"""

from __future__ import annotations

import contextlib
import gc
from typing import Any

import pytest

from verification.backends import exchanges_json
from verification.errors import CheckError
from verification.plugin import excess
from verification.plugin.evidence import role_evidence
from verification.plugin.keys import (
    ANSWERS_KEY,
    CASE_KEY,
    CAUSE_KEY,
    EXCESS_KEY,
    JUDGEMENT_KEY,
    RUN_KEY,
    VERDICT_KEY,
    Case,
)
from verification.plugin.run import Run
from verification.verdicts import Verdict

#: How many reasons a role keeps for the step summary (the rest are counted).
REASONS_KEPT = 5


def pytest_runtest_setup(item: pytest.Item) -> None:
    """Judge a verification test's requirement for its role; an error (broken) when it could not be checked.

    The role's facts (GetRole, its instance profiles, one simulation of all actions) are fetched
    once per role and process and shared by the role's tests. What the test's stash holds then (the
    role's judgement and excess, the verdict) is what the Allure listener (``allure_output``) writes.
    """
    case = item.stash.get(CASE_KEY, None)
    if case is None:
        return
    run = item.config.stash[RUN_KEY]
    if case.kind == "account":
        from verification.plugin.organization import account_setup

        account_setup(item, run, case)
    if case.kind == "excess":
        excess.setup_group_test(item, run, case)
        return
    arn, requirement_id = case.role, case.requirement
    target = run.targets[arn]
    facts = run.role_facts(arn)
    found = excess.role_excess(item.config, run, facts)  # before the answers are written: its simulation is one
    if found is not None:
        item.stash[EXCESS_KEY] = found
    judgement = run.judgement(arn)
    item.stash[JUDGEMENT_KEY] = judgement
    role_evidence(item.config, run, judgement)
    # Written: the raw answers (~100 KiB of JSON per role) need not stay in memory for the rest of
    # the run (at 1,000 roles they held hundreds of MiB in a worker). A failing role's go to Allure
    # with this test, as the text already encoded for the evidence (not read back from it).
    answers = run.backend(target.connection).exchanges.pop(arn, None)
    if answers and judgement.failing:
        item.stash[ANSWERS_KEY] = exchanges_json(answers)
    outcome = judgement.outcome(requirement_id)
    if outcome.skipped:
        item.stash[CAUSE_KEY] = "skipped"
        pytest.skip(outcome.skipped)
    if outcome.verdict is None:
        assert outcome.error is not None
        item.stash[CAUSE_KEY] = "could-not-check"
        raise CheckError(outcome.error.message, outcome.error.hint) from None
    item.stash[CAUSE_KEY] = outcome.cause
    item.stash[VERDICT_KEY] = excess.with_note(item.config, run, facts, outcome.verdict)


def verdict_of(request: pytest.FixtureRequest) -> Verdict:
    """The verdict that setup reached for the calling verification test."""
    node: pytest.Item = request.node
    return node.stash[VERDICT_KEY]


def assert_verdict(verdict: Verdict) -> None:
    """Fail the calling test with the verdict's one-line reason and the fix (Allure shows its evidence)."""
    __tracebackhide__ = True
    if not verdict.met:
        pytest.fail(f"{verdict.reason}\nwhat to change: {verdict.remedy}", pytrace=False)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    """A requirement that could not be checked reports one line (what failed, what to do), no traceback.

    Allure still sees the CheckError itself, so the result is "broken", not "failed".
    """
    report = yield
    if call.excinfo is not None and isinstance(call.excinfo.value, CheckError):
        report.longrepr = str(call.excinfo.value)
    case = item.stash.get(CASE_KEY, None)
    run = item.config.stash.get(RUN_KEY, None)
    if case is not None and run is not None:
        tally(run, case, report, item.stash.get(CAUSE_KEY, "unknown"))
        verdict = item.stash.get(VERDICT_KEY, None)
        if report.when == "call" and run.fleet is not None and verdict is not None and "Engine" in verdict.evidence:
            run.fleet.note_checked(case.role, verdict.disagrees)
        if report.when == "teardown":
            run.test_finished(case.role)
            if case.role not in run.tests_left:
                settle_memory()
            # pytest keeps every item to the end of the session: a verdict left in its stash (with
            # its per-resource evidence) would keep every test's evidence in memory, 85 per role,
            # and a judgement or an excess every role's.
            with contextlib.suppress(KeyError):
                del item.stash[VERDICT_KEY]
            with contextlib.suppress(KeyError):
                del item.stash[JUDGEMENT_KEY]
            with contextlib.suppress(KeyError):
                del item.stash[EXCESS_KEY]
            with contextlib.suppress(KeyError):
                del item.stash[ANSWERS_KEY]
    return report


def settle_memory() -> None:
    """After a role's last test: collect its garbage, then keep what lives on out of the collector's sight.

    pytest keeps every test's reports to the end of the session, so the objects that live on grow
    with the run, and each role's thousands of short-lived objects set off full collections that
    walk all of them: at 1,000 roles that was 150 full collections and 32 s per xdist worker, and
    it grows with the square of the fleet. ``gc.freeze`` moves what is alive now out of their reach
    (frozen objects are still freed when nothing refers to them), and the collection just before it
    means no garbage cycle is frozen with them. Both walk only what is new since the last role.
    """
    gc.collect()
    gc.freeze()


def tally(run: Run, case: Case, report: pytest.TestReport, cause: str) -> None:
    """Count a role's outcomes and root causes where the test ran, and keep its first few reasons.

    Counted from the item, not from report properties: at a thousand roles, properties carried on
    every report that xdist sends to the controller cost more memory than anything else per test.
    Workers send their counts to the controller once, when they finish.
    """
    role, requirement = case.role, case.requirement
    outcome = None
    if report.when == "setup" and report.failed:
        outcome, cause = "broken", "could-not-check"
    elif report.when == "setup" and report.skipped:
        run.outcomes[role]["skipped"] += 1
    elif report.when == "call":
        outcome = "passed" if report.passed else "failed"
    if outcome is None:
        return
    run.outcomes[role][outcome] += 1
    if outcome == "passed":
        return
    run.causes[role][cause] += 1
    if len(run.reasons[role]) < REASONS_KEPT:
        reason = str(report.longrepr).strip().splitlines()[0] if report.longrepr else cause
        run.reasons[role].append((outcome, requirement, reason))


class QuietPhases:
    """Let the terminal reporter forget passed setup and teardown reports that carry no output.

    It keeps every such report (two per test) only so that the failure summary can print a failing
    test's teardown output, and it finds them by scanning all of them once per failure: at a
    thousand roles that is 170,000 reports held in the controller and tens of millions of
    comparisons after the last test (pytest-dev/pytest#13360). A report without sections has
    nothing to print in those summaries. ``--durations`` does read them, so with it nothing is dropped.
    """

    def __init__(self, config: pytest.Config) -> None:
        self.config = config

    @pytest.hookimpl(trylast=True)
    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.when == "call" or not report.passed or report.sections:
            return
        terminal = self.config.pluginmanager.get_plugin("terminalreporter")
        kept = terminal.stats.get("") if terminal is not None else None
        if kept and kept[-1] is report:
            kept.pop()
