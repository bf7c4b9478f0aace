"""Verification runs in subprocesses (as a user runs them), shared by the evidence tests."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.support.accounts import fresh_accounts
from verification import FIXTURES
from verification.endpoint import Endpoint
from verification.plugin import SUITE_DIR

DEMO_ACCOUNT = FIXTURES / "demo" / "account.json"
WORKER = "arn:aws:iam::123456789012:role/VeeamFLRWorker"
MISCONFIGURED = "arn:aws:iam::123456789012:role/VeeamFLRWorkerMisconfigured"
APPLIANCE = "arn:aws:iam::123456789012:role/VeeamImpersonation"


@dataclass(frozen=True)
class Verification:
    """One finished ``pytest`` verification run: its bundle, its JUnit XML and its output."""

    bundle: Path
    junit: Path
    stdout: str
    returncode: int

    def outcomes(self) -> dict[str, str]:
        """JUnit test name → passed / failed / error / skipped."""
        out: dict[str, str] = {}
        for case in ET.parse(self.junit).getroot().iter("testcase"):
            kinds = [child.tag for child in case if child.tag in ("failure", "error", "skipped")]
            out[case.attrib["name"]] = kinds[0] if kinds else "passed"
        return out

    def verdicts(self, arn: str) -> dict[str, dict[str, Any]]:
        """The bundle's verdicts of one role, by requirement id."""
        folder = self.bundle / json.loads((self.bundle / "run.json").read_text())["roles"][arn]
        from verification.reporting.evidence import read_json

        data = read_json(folder, "verdicts.json")
        return {v["requirement"]: v for v in data["verdicts"]}

    def role_file(self, arn: str, name: str) -> Any:
        """A JSON file of one role's folder."""
        folder = self.bundle / json.loads((self.bundle / "run.json").read_text())["roles"][arn]
        from verification.reporting.evidence import read_exchanges, read_json

        if name == "exchanges.json":  # kept compressed (exchanges.json.gz)
            return read_exchanges(folder)
        return read_json(folder, name)  # a passing role's files are compressed too


def verify(tmp: Path, *args: str) -> Verification:
    """Run the verification suite in a subprocess with a bundle and JUnit XML under ``tmp``."""
    tmp.mkdir(parents=True, exist_ok=True)
    bundle, junit = tmp / "bundle", tmp / "junit.xml"
    env = {**os.environ, "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
    env.pop("AWS_PROFILE", None)
    command = [
        sys.executable,
        "-m",
        "pytest",
        str(SUITE_DIR),
        "-p",
        "no:cacheprovider",
        "-q",
        f"--evidence-dir={bundle}",
        f"--junitxml={junit}",
        f"--alluredir={tmp / 'allure'}",
        *args,
    ]
    done = subprocess.run(command, cwd=tmp, env=env, capture_output=True, text=True, timeout=600)
    assert (bundle / "manifest.json").is_file(), done.stdout + done.stderr
    return Verification(bundle, junit, done.stdout, done.returncode)


def replay_args(bundle: Path) -> Sequence[str]:
    """The bundle's own replay command (run.json), with DIR made the bundle folder."""
    command = json.loads((bundle / "run.json").read_text())["replay"]["commands"][0]
    args = command.split()[1:]
    return [arg.replace("DIR/", f"{bundle}/") for arg in args]


@pytest.fixture(scope="session")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> Verification:
    """``pytest --demo`` with an evidence bundle."""
    return verify(tmp_path_factory.mktemp("demo"), "--demo")


@pytest.fixture
def seeded_endpoint() -> Iterator[Endpoint]:
    """A local IAM endpoint holding the demo account (fresh for each test that changes it).

    Only the demo account is forgotten after the test: moto's whole reset also emptied the session's
    fleet of five accounts when both ran in one xdist worker.
    """
    with fresh_accounts(json.loads(DEMO_ACCOUNT.read_text())) as endpoint:
        yield endpoint
