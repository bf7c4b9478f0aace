"""The suite under pytest-xdist with a targets file: paced, one worker per account; unpaced, balanced by role.

Counts are merged from every worker and the summary is kept either way.
"""

from __future__ import annotations

import json
import re
from collections import Counter, defaultdict
from pathlib import Path

import pytest

from tests.support.fleet import Fleet, pattern_targets, run_suite

#: xdist's verbose line: ``[gw1] [ 12%] PASSED .../test_requirements.py::test_trust[111111111111/VeeamWorker01-...]``
LINE = re.compile(r"^\[(gw\d+)\].*?(PASSED|FAILED|ERROR|SKIPPED) \S+\[(\d{12})/(VeeamWorker\d+)-")


def _run(fleet: Fleet, workdir: Path, *extra: str) -> tuple[str, Path]:
    targets = pattern_targets(fleet, workdir / "targets.json")
    result = run_suite(["--targets", str(targets), "--endpoint-url", fleet.url, "-n", "2", "-v", *extra], workdir)
    assert result.returncode in (0, 1), result.stdout[-3000:] + result.stderr[-2000:]
    return result.stdout, workdir


@pytest.fixture(scope="module")
def parallel_run(fleet: Fleet, tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path]:
    """``pytest --targets FILE -n 2 --max-rate 1000`` (paced, no --dist given) over 15 roles in five accounts."""
    return _run(fleet, tmp_path_factory.mktemp("xdist"), "--max-rate", "1000")


@pytest.fixture(scope="module")
def unpaced_run(fleet: Fleet, tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path]:
    """The same with pacing off (the default for a loopback endpoint)."""
    return _run(fleet, tmp_path_factory.mktemp("xdist-unpaced"))


def _workers_by(stdout: str, key: str) -> dict[str, set[str]]:
    """Which workers ran each account's (``key="account"``) or each role's (``key="role"``) tests."""
    workers: dict[str, set[str]] = defaultdict(set)
    for line in stdout.splitlines():
        match = LINE.match(line)
        if match:
            workers[match[3] if key == "account" else match[3] + "/" + match[4]].add(match[1])
    return workers


def test_paced_each_accounts_tests_run_on_one_worker(parallel_run: tuple[str, Path], fleet: Fleet) -> None:
    """One process per account: that process's token bucket is the account's whole pace."""
    workers = _workers_by(parallel_run[0], "account")
    assert sorted(workers) == sorted(fleet.accounts)
    assert all(len(used) == 1 for used in workers.values()), dict(workers)
    assert len(set().union(*workers.values())) == 2  # and both workers had work


def test_unpaced_work_is_balanced_by_role(unpaced_run: tuple[str, Path], fleet: Fleet) -> None:
    """Nothing to pace: a role's tests share a worker (its facts are fetched once), accounts do not,
    and both workers get a share of the roles."""
    stdout, _ = unpaced_run
    by_role = _workers_by(stdout, "role")
    assert len(by_role) == 15 and all(len(used) == 1 for used in by_role.values()), dict(by_role)
    assert any(len(used) == 2 for used in _workers_by(stdout, "account").values())
    roles_per_worker = Counter(next(iter(used)) for used in by_role.values())
    assert len(roles_per_worker) == 2 and min(roles_per_worker.values()) >= 5, roles_per_worker
    # Fleet mode: each worker reads an account's GAAD once and batches its appliance side once; each
    # role is still simulated once, wherever it ran (and each failing role's fix checked once).
    pairs = sum(len(used) for used in _workers_by(stdout, "account").values())
    line = next(line for line in stdout.splitlines() if line.startswith("  per operation: "))
    counts = {op: int(n) for op, n in re.findall(r"(\S+:\w+) (\d+)", line)}
    assert "iam:GetRole" not in counts and "iam:ListInstanceProfilesForRole" not in counts, line
    assert counts["iam:GetAccountAuthorizationDetails"] == pairs, line
    assert counts["iam:SimulatePrincipalPolicy"] == 15 + pairs + 5, line


def test_the_summary_counts_every_workers_calls_and_lists_roles_once(parallel_run: tuple[str, Path]) -> None:
    """15 roles in fleet mode: a GAAD page per account, one simulation per role and one of the appliance side
    per account; ListRoles once per account, in the controller."""
    stdout, workdir = parallel_run
    expected = {
        "iam:GetAccountAuthorizationDetails": 5,
        "iam:ListRoles": 5,
        "iam:SimulatePrincipalPolicy": 25,  # each role, the appliance side per account, a fix check per failing role
        "sts:AssumeRole": 10,  # per account: once in the controller (ListRoles), once in its worker
    }
    line = next(line for line in stdout.splitlines() if line.startswith("  per operation: "))
    assert line == "  per operation: " + ", ".join(f"{op} {n}" for op, n in expected.items())
    assert "; 2.00 IAM calls per role over 15 role(s)" in stdout
    (bundle,) = (workdir / "reports" / "evidence").iterdir()
    assert "api-calls.json" in (bundle / "manifest.json").read_text()  # covered by the bundle's checksums
    for recorded_in in (workdir / "reports" / "allure-results", bundle):
        recorded = json.loads((recorded_in / "api-calls.json").read_text())
        totals: dict[str, int] = defaultdict(int)
        for operations in recorded["calls"].values():
            for operation, n in operations.items():
                totals[operation] += n
        assert totals == expected, recorded_in


def test_failing_roles_come_first_in_the_summary(parallel_run: tuple[str, Path], fleet: Fleet) -> None:
    stdout, _ = parallel_run
    section = stdout.split(" role verification ", 1)[1]
    statuses = [line.split()[0] for line in section.splitlines() if re.match(r"^(FAILED|ok) +arn:", line)]
    assert len(statuses) == 15 and statuses == sorted(statuses, key=lambda status: status != "FAILED")
    for account in fleet.accounts:
        assert f"FAILED arn:aws:iam::{account}:role/VeeamWorker02:" in section  # lacks one action
