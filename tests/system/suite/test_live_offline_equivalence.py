"""The whole suite reaches the same verdicts live (demo endpoint) and offline (snapshot of the same account)."""

from __future__ import annotations

import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
DEMO_ACCOUNT = ROOT / "fixtures" / "demo" / "account.json"
ROLES = ["VeeamFLRWorker", "VeeamFLRWorkerMisconfigured"]
APPLIANCE = "arn:aws:iam::123456789012:role/VeeamImpersonation"


def run_suite(tmp_path: Path, name: str, *args: str) -> dict[str, tuple[str, str]]:
    """Run the suite in a subprocess; return test id -> (outcome, first line of the message)."""
    junit = tmp_path / f"{name}.xml"
    command = [
        sys.executable,
        "-m",
        "pytest",
        "-p",
        "no:cacheprovider",
        "-q",
        f"--junitxml={junit}",
        f"--alluredir={tmp_path / name}",
        f"--evidence-dir={tmp_path / (name + '-evidence')}",
        *args,
    ]
    # From tmp_path, not the checkout: a run writes its results beside it.
    result = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert result.returncode == 1, result.stdout[-3000:] + result.stderr[-3000:]
    outcomes: dict[str, tuple[str, str]] = {}
    for case in ET.parse(junit).iter("testcase"):
        problem = next((child for child in case if child.tag in ("failure", "error", "skipped")), None)
        outcome = problem.tag if problem is not None else "passed"
        message = (problem.get("message") or "").splitlines()[0] if problem is not None else ""
        outcomes[case.get("name", "")] = (outcome, message)
    return outcomes


def test_demo_and_snapshot_runs_agree_requirement_by_requirement(tmp_path: Path) -> None:
    """Same ids, same outcomes, same one-line reasons: the tests never know which backend answered."""
    role_args = [arg for role in ROLES for arg in ("--role-arn", f"arn:aws:iam::123456789012:role/{role}")]
    live = run_suite(tmp_path, "live", "--demo", *role_args)
    offline = run_suite(
        tmp_path, "offline", "--snapshot", str(DEMO_ACCOUNT), "--appliance-principal", APPLIANCE, *role_args
    )
    assert len(live) == 2 * 85
    assert live == offline
    failed = {name for name, (outcome, _) in live.items() if outcome == "failure"}
    assert all("VeeamFLRWorkerMisconfigured" in name for name in failed)
    assert len(failed) == 22
