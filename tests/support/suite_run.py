"""Run the real verification suite in a subprocess and read back each test's outcome from its JUnit XML.

A subprocess, not pytester: the suite is a pytest plugin with session state (the run, Allure's
listener), and the point is to see what a user's ``pytest`` command would produce, exit code included.
"""

from __future__ import annotations

import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SUITE = ROOT / "verification" / "suite"
#: Dummy credentials: the local endpoint accepts any, and none of the user's are read.
DUMMY_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
DEMO_ACCOUNT = ROOT / "fixtures" / "demo" / "account.json"


@dataclass(frozen=True)
class Outcome:
    """One test's result as a user would see it: passed, failed, broken (setup error) or skipped."""

    status: str
    message: str = ""


@dataclass
class SuiteRun:
    """What one run of the suite produced."""

    returncode: int
    stdout: str
    stderr: str
    outcomes: dict[str, Outcome] = field(default_factory=dict)

    def of_role(self, role: str) -> dict[str, Outcome]:
        """Outcomes of one role's tests, keyed by test id (``account/name-requirement``)."""
        return {test_id: o for test_id, o in self.outcomes.items() if test_id.startswith(f"{role}-")}

    def summary(self) -> str:
        """A few lines for assertion messages."""
        return (self.stdout[-3000:] + "\n" + self.stderr[-2000:]).strip()


def clean_env(extra: Mapping[str, str] | None = None, *, home: Path) -> dict[str, str]:
    """This process's environment without any AWS or pytest settings, plus dummy (or given) credentials."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "PYTEST_", "BOTO"))}
    env.update(
        AWS_CONFIG_FILE=str(home / "no-aws-config"),
        AWS_SHARED_CREDENTIALS_FILE=str(home / "no-aws-credentials"),
        AWS_DEFAULT_REGION="us-east-1",
        AWS_EC2_METADATA_DISABLED="true",
        **DUMMY_CREDENTIALS,
    )
    env.update(extra or {})
    return env


def run_suite(
    args: Sequence[str],
    workdir: Path,
    *,
    env: Mapping[str, str] | None = None,
    timeout: float = 120,
) -> SuiteRun:
    """``pytest verification/suite ARGS`` in ``workdir`` (so every file it writes lands there)."""
    junit = workdir / "junit.xml"
    command = [
        sys.executable,
        "-m",
        "pytest",
        str(SUITE),
        "-p",
        "no:cacheprovider",
        "-q",
        f"--junitxml={junit}",
        *args,
    ]
    result = subprocess.run(
        command,
        cwd=workdir,
        env=dict(env) if env is not None else clean_env(home=workdir),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    run = SuiteRun(result.returncode, result.stdout, result.stderr)
    if junit.is_file():
        run.outcomes = read_junit(junit)
    return run


def read_junit(path: Path) -> dict[str, Outcome]:
    """Each test case's outcome, keyed by its parametrization id (the part in brackets)."""
    outcomes: dict[str, Outcome] = {}
    for case in ET.parse(path).getroot().iter("testcase"):
        name = case.get("name", "")
        test_id = name[name.index("[") + 1 : -1] if "[" in name else name
        error, failure, skipped = case.find("error"), case.find("failure"), case.find("skipped")
        if error is not None:
            outcome = Outcome("broken", f"{error.get('message', '')}\n{error.text or ''}")
        elif failure is not None:
            outcome = Outcome("failed", f"{failure.get('message', '')}\n{failure.text or ''}")
        elif skipped is not None:
            outcome = Outcome("skipped", skipped.get("message", ""))
        else:
            outcome = Outcome("passed")
        outcomes[test_id] = outcome
    return outcomes


def start_endpoint_process(seed: Path | None = DEMO_ACCOUNT) -> tuple[subprocess.Popen[str], str]:
    """The local endpoint in its own process (its own moto state, killable); its URL. ``seed=None``: empty."""
    seeding = ["--seed", str(seed)] if seed is not None else []
    process = subprocess.Popen(
        [sys.executable, "-m", "verification", "endpoint", "--port", "0", *seeding],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    line = process.stdout.readline()
    if "ready at" not in line:
        process.kill()
        raise RuntimeError(f"endpoint did not start: {line}{process.communicate(timeout=10)[1]}")
    return process, line.rsplit(" ", 1)[1].strip()


def stop_process(process: subprocess.Popen[str]) -> None:
    """Terminate (then kill) a process this module started."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
