"""The example nightly workflow: parsed and checked against what the harness really accepts."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
WORKFLOW = ROOT / ".github" / "workflows" / "nightly-verification.yml"
ACTION = ROOT / "action.yml"


@pytest.fixture(scope="module")
def workflow() -> dict[Any, Any]:
    data = yaml.safe_load(WORKFLOW.read_text())
    assert isinstance(data, dict)
    return data


@pytest.fixture(scope="module")
def steps(workflow: dict[Any, Any]) -> list[dict[str, Any]]:
    (job,) = workflow["jobs"].values()
    result: list[dict[str, Any]] = job["steps"]
    return result


def step(steps: list[dict[str, Any]], *, uses: str | None = None, run: str | None = None) -> dict[str, Any]:
    for item in steps:
        if (uses and str(item.get("uses", "")).startswith(uses)) or (run and run in str(item.get("run", ""))):
            return item
    raise AssertionError(f"no step uses {uses!r} / runs {run!r}")


def command(item: dict[str, Any]) -> list[str]:
    return shlex.split(" ".join(str(item["run"]).split()))


def verify_step(steps: list[dict[str, Any]]) -> dict[str, Any]:
    """The step that runs the verification: this repository's action (action.yml), given pytest's arguments."""
    found = [s for s in steps if s.get("uses") == "./"]
    assert len(found) == 1, "the workflow verifies through the repository's own action (uses: ./)"
    return found[0]


def verify_command(steps: list[dict[str, Any]]) -> list[str]:
    """``pytest ARGS`` as the action runs it (its args split as a shell would)."""
    return ["pytest", *shlex.split(" ".join(str(verify_step(steps)["with"]["args"]).split()))]


def test_it_runs_on_a_schedule(workflow: dict[Any, Any]) -> None:
    triggers: dict[str, Any] = workflow["on"] if "on" in workflow else workflow[True]  # YAML 1.1: bare `on` is true
    (schedule,) = triggers["schedule"]
    assert len(schedule["cron"].split()) == 5


def test_aws_credentials_come_from_githubs_oidc_provider_not_stored_keys(
    workflow: dict[Any, Any], steps: list[dict[str, Any]]
) -> None:
    assert workflow["permissions"]["id-token"] == "write"
    configure = step(steps, uses="aws-actions/configure-aws-credentials@")
    assert configure["with"]["role-to-assume"].startswith("${{ vars.")
    assert not {"aws-access-key-id", "aws-secret-access-key"} & set(configure["with"])
    assert "secrets." not in WORKFLOW.read_text()


def test_the_pytest_command_uses_only_real_options_and_groups_by_account(steps: list[dict[str, Any]]) -> None:
    args = verify_command(steps)
    assert args[1] == "--targets"
    assert args[args.index("--dist") + 1] == "loadgroup" and "-n" in args
    assert args[args.index("--retry-mode") + 1] in ("standard", "adaptive")
    helptext = subprocess.run(
        [sys.executable, "-m", "pytest", "--help"], cwd=ROOT, capture_output=True, text=True, timeout=120, check=True
    ).stdout
    for option in (arg.split("=", 1)[0] for arg in args[1:] if arg.startswith("--")):
        assert re.search(rf"(^|\s){re.escape(option)}[\s=,]", helptext), f"pytest has no option {option}"


def test_the_report_command_uses_only_real_options(steps: list[dict[str, Any]]) -> None:
    args = command(step(steps, run="python -m verification report"))
    helptext = subprocess.run(
        [sys.executable, "-m", "verification", "report", "--help"], capture_output=True, text=True, check=True
    ).stdout
    for option in (arg for arg in args if arg.startswith("--")):
        assert option in helptext, f"the report command has no option {option}"


def test_allure_history_is_restored_before_and_saved_after_the_report(steps: list[dict[str, Any]]) -> None:
    restore = step(steps, uses="actions/cache/restore@")
    save = step(steps, uses="actions/cache/save@")
    report_args = command(step(steps, run="python -m verification report"))
    history = report_args[report_args.index("--history-dir") + 1]
    assert restore["with"]["path"] == save["with"]["path"] == history
    assert save["with"]["key"].startswith(restore["with"]["restore-keys"])  # the next run finds this one's
    assert steps.index(restore) < steps.index(step(steps, run="python -m verification report")) < steps.index(save)
    assert save.get("if") == "always()"


def test_the_single_file_report_and_the_evidence_bundle_are_uploaded(steps: list[dict[str, Any]]) -> None:
    uploads = [s for s in steps if str(s.get("uses", "")).startswith("actions/upload-artifact@")]
    paths = "\n".join(str(s["with"]["path"]) for s in uploads)
    report_args = command(step(steps, run="python -m verification report"))
    verify_args = verify_command(steps)
    assert f"{report_args[report_args.index('--out') + 1]}/index.html" in paths
    assert verify_args[verify_args.index("--evidence-dir") + 1] in paths
    assert all(s.get("if") == "always()" for s in uploads)  # uploaded when requirements fail, above all


def test_the_job_fails_when_any_requirement_fails_or_breaks(steps: list[dict[str, Any]]) -> None:
    """The action's exit status is kept for the last step, so the report is still built and uploaded first."""
    verify = verify_step(steps)
    assert verify["with"]["fail-on-findings"] == "false"
    last = steps[-1]
    assert last["if"] == f"steps.{verify['id']}.outputs.exit-status != '0'"
    assert "exit 1" in last["run"]


def test_the_workflow_is_valid_for_github_actions() -> None:
    """Checked offline against the GitHub workflow schema that check-jsonschema ships."""
    done = subprocess.run(
        [sys.executable, "-m", "check_jsonschema", "--builtin-schema", "vendor.github-workflows", str(WORKFLOW)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_action_installs_the_harness_from_its_checkout_not_editable() -> None:
    """The action installs the checkout at the ref the workflow names (pip builds it as a wheel)."""
    action = yaml.safe_load(ACTION.read_text())
    install = next(str(s["run"]) for s in action["runs"]["steps"] if "pip install" in str(s.get("run", "")))
    assert "${GITHUB_ACTION_PATH}" in install
    assert " -e " not in install and "--editable" not in install
