"""The GitHub Action (action.yml): valid for GitHub, and its Verify step run offline as the runner runs it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

from tests.support.sarif import schema_errors
from tests.support.templates import DATA, PROFILE, document, grant, template, worker

ROOT = Path(__file__).resolve().parents[3]
ACTION = ROOT / "action.yml"
WORKFLOW = ROOT / ".github" / "workflows" / "nightly-verification.yml"


def _action() -> dict[str, Any]:
    data = yaml.safe_load(ACTION.read_text())
    assert isinstance(data, dict)
    return data


def test_the_action_and_the_workflow_that_uses_it_are_valid_for_github() -> None:
    """Checked offline against the GitHub Action and workflow schemas that check-jsonschema ships."""
    for schema, path in (("vendor.github-actions", ACTION), ("vendor.github-workflows", WORKFLOW)):
        done = subprocess.run(
            [sys.executable, "-m", "check_jsonschema", "--builtin-schema", schema, str(path)],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert done.returncode == 0, done.stdout + done.stderr


def test_the_action_installs_from_its_ref_uploads_when_asked_and_outputs_status_and_counts() -> None:
    action = _action()
    assert action["runs"]["using"] == "composite"
    steps = action["runs"]["steps"]
    install = next(s for s in steps if "pip install" in str(s.get("run", "")))
    assert "${GITHUB_ACTION_PATH}" in install["run"]
    upload = next(s for s in steps if str(s.get("uses", "")).startswith("github/codeql-action/upload-sarif@"))
    assert "inputs.upload-sarif == 'true'" in upload["if"] and "always()" in upload["if"]
    assert upload["with"]["sarif_file"] == "${{ steps.verify.outputs.sarif }}"
    assert set(action["outputs"]) >= {"exit-status", "roles", "passed", "failed", "broken", "sarif"}
    assert all(o["value"].startswith("${{ steps.verify.outputs.") for o in action["outputs"].values())
    workflow = yaml.safe_load(WORKFLOW.read_text())
    assert workflow["permissions"]["security-events"] == "write"
    # The shard jobs verify through the action (the merge job only merges what they wrote).
    verify = next(s for s in workflow["jobs"]["verify"]["steps"] if s.get("uses") == "./")
    assert verify["with"]["upload-sarif"] == "true"


def _verify_step(cwd: Path, args: str, **env: str) -> tuple[dict[str, str], str]:
    """Run the action's Verify step as the runner does; its outputs and the step summary."""
    outputs, summary = cwd / "github-output", cwd / "step-summary.md"
    action = _action()
    verify = next(s for s in action["runs"]["steps"] if s.get("id") == "verify")
    assert verify["run"] == 'python "${GITHUB_ACTION_PATH}/.github/action/verify.py"'
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "PYTEST_"))}
    done = subprocess.run(
        [sys.executable, str(ROOT / ".github" / "action" / "verify.py")],
        cwd=cwd,
        env={
            **clean,
            "GITHUB_ACTION_PATH": str(ROOT),
            "GITHUB_OUTPUT": str(outputs),
            "GITHUB_STEP_SUMMARY": str(summary),
            "VERIFY_ARGS": args,
            "SARIF_FILE": action["inputs"]["sarif"]["default"],
            "SARIF_CATEGORY": "",
            **env,
        },
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr  # the step itself never fails: the last step does
    pairs = dict(line.split("=", 1) for line in outputs.read_text().splitlines())
    return pairs, summary.read_text() if summary.exists() else ""


def test_the_verify_step_writes_outputs_sarif_and_step_summary(tmp_path: Path) -> None:
    denied = document(
        grant("ec2:CreateTags", "ec2:DescribeInstances"),
        {"Effect": "Deny", "Action": "ec2:CreateTags", "Resource": "*"},
    )
    template(tmp_path, {"Worker": worker(Policies=[{"PolicyName": "p", "PolicyDocument": denied}]), "Profile": PROFILE})
    args = (
        f"--template template.json --requirements '{DATA / 'small-requirements.yaml'}' "
        "--appliance-principal 111111111111 -p no:cacheprovider --alluredir=allure --evidence-dir=evidence"
    )
    outputs, summary = _verify_step(tmp_path, args)
    assert outputs["exit-status"] == "1"
    assert (outputs["roles"], outputs["passed"], outputs["failed"], outputs["broken"]) == ("1", "4", "1", "0")
    sarif = Path(outputs["sarif"])
    assert sarif == tmp_path / "reports" / "role-verification.sarif"
    log = json.loads(sarif.read_text())
    assert schema_errors(log) == []
    assert [r["ruleId"] for r in log["runs"][0]["results"]] == ["permission:ec2:CreateTags"]
    assert "## Role verification" in summary and "| FAILED |" in summary


def test_bad_input_leaves_no_sarif_to_upload_not_even_an_old_one(tmp_path: Path) -> None:
    old = tmp_path / "reports" / "role-verification.sarif"
    old.parent.mkdir()
    old.write_text("{}")
    (tmp_path / "bad.yaml").write_text("Resources: [not, a, mapping]\n")
    outputs, summary = _verify_step(tmp_path, "--template bad.yaml -p no:cacheprovider")
    assert outputs["exit-status"] == "4"
    assert outputs["sarif"] == "" and outputs["failed"] == ""
    assert not old.exists()
    assert "no SARIF written" in summary
