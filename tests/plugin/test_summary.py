"""Exit statuses a nightly job can act on: 0 all met, 1 some failed, 10 some unchecked and none failed."""

from __future__ import annotations

from collections import Counter

import pytest

from verification.plugin.run import Run
from verification.plugin.summary import EXIT_UNCHECKED, exit_status


def run_with(**roles: Counter[str]) -> Run:
    run = Run({}, "live", {}, "test")
    for role, counts in roles.items():
        run.outcomes[role] = counts
    return run


def test_the_unchecked_status_is_none_of_pytests_own() -> None:
    assert EXIT_UNCHECKED not in {int(code) for code in pytest.ExitCode}


def test_broken_and_none_failed_is_the_unchecked_status() -> None:
    run = run_with(a=Counter(passed=3, broken=2), b=Counter(passed=5))
    assert exit_status(run, pytest.ExitCode.TESTS_FAILED, tests_failed=2) == EXIT_UNCHECKED


def test_a_failed_requirement_wins_over_broken_ones() -> None:
    run = run_with(a=Counter(failed=1, broken=2))
    assert exit_status(run, pytest.ExitCode.TESTS_FAILED, tests_failed=3) == pytest.ExitCode.TESTS_FAILED


def test_another_failing_test_of_the_session_keeps_pytests_status() -> None:
    """A failure that is not a verification verdict (a user's own test) is not "unchecked"."""
    run = run_with(a=Counter(broken=1))
    assert exit_status(run, pytest.ExitCode.TESTS_FAILED, tests_failed=2) == pytest.ExitCode.TESTS_FAILED


@pytest.mark.parametrize("code", [pytest.ExitCode.OK, pytest.ExitCode.INTERRUPTED, pytest.ExitCode.USAGE_ERROR])
def test_pytests_other_statuses_are_kept(code: pytest.ExitCode) -> None:
    assert exit_status(run_with(a=Counter(broken=1)), code, tests_failed=1) == code
