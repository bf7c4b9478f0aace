"""What a user scripts against stays put: test ids, entry points and commands.

Users select requirements with ``-k``, keep Allure history keyed by test id, and call the plugin
through its entry points. These lists pin them, so a refactoring that renames a test or drops a
command fails here instead of in someone's nightly job. When a change means to alter them, regenerate
the golden files (the commands are in each test's docstring) and say why in the commit.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from importlib.metadata import distribution
from pathlib import Path

import pytest

GOLDEN = Path(__file__).with_name("golden")
TEMPLATE = Path(__file__).parents[2] / "backends" / "template" / "data" / "flr-worker.cfn.yaml"


def collected_ids(args: list[str], cwd: Path) -> list[str]:
    """The test ids ``pytest ARGS --collect-only -q`` lists, run as a user runs it in ``cwd``."""
    completed = subprocess.run(
        [sys.executable, "-m", "pytest", *args, "--collect-only", "-q", "-p", "no:cacheprovider"],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert completed.returncode == 0, completed.stdout[-2000:] + completed.stderr[-2000:]
    return [line for line in completed.stdout.splitlines() if "::" in line]


def golden(name: str) -> list[str]:
    return (GOLDEN / name).read_text().splitlines()


def test_the_demo_collects_the_same_test_ids(tmp_path: Path) -> None:
    """``pytest --demo --collect-only -q | grep :: > tests/system/suite/golden/demo-ids.txt``."""
    assert collected_ids(["--demo"], tmp_path) == golden("demo-ids.txt")


def test_a_template_run_collects_the_same_test_ids(tmp_path: Path) -> None:
    """``pytest --template flr-worker.cfn.yaml --account 111122223333 --collect-only -q | grep ::``."""
    shutil.copy(TEMPLATE, tmp_path / TEMPLATE.name)
    ids = collected_ids(["--template", TEMPLATE.name, "--account", "111122223333"], tmp_path)
    assert ids == golden("template-ids.txt")


def test_the_entry_points_keep_their_names() -> None:
    """``pytest11`` loads the plugin by this name; the console script keeps its name and target."""
    points = {(point.group, point.name): point.value for point in distribution("veeam-role-verification").entry_points}
    assert points[("pytest11", "role_verification")] == "verification.plugin"
    assert points[("console_scripts", "veeam-role-verification")] == "verification.__main__:main"


@pytest.mark.parametrize("command", ["endpoint", "snapshot", "evidence", "report", "requirements"])
def test_every_command_is_still_listed(command: str) -> None:
    """``python -m verification --help`` lists each command users call today."""
    completed = subprocess.run(
        [sys.executable, "-m", "verification", "--help"], capture_output=True, text=True, timeout=60
    )
    assert completed.returncode == 0
    assert any(line.split()[:1] == [command] for line in completed.stderr.splitlines()), completed.stderr
