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

ROOT = Path(__file__).resolve().parents[3]
WORKFLOW = ROOT / ".github" / "workflows" / "nightly-verification.yml"
ACTION = ROOT / "action.yml"


@pytest.fixture(scope="module")
def workflow() -> dict[Any, Any]:
    data = yaml.safe_load(WORKFLOW.read_text())
    assert isinstance(data, dict)
    return data


@pytest.fixture(scope="module")
def jobs(workflow: dict[Any, Any]) -> dict[str, Any]:
    """The shard matrix (``verify``) and the job that merges the shards (``merge``)."""
    result: dict[str, Any] = workflow["jobs"]
    assert set(result) == {"verify", "merge"}
    return result


@pytest.fixture(scope="module")
def steps(jobs: dict[str, Any]) -> list[dict[str, Any]]:
    """Every step, the shards' first, then the merge's."""
    result: list[dict[str, Any]] = [*jobs["verify"]["steps"], *jobs["merge"]["steps"]]
    return result


def step(steps: list[dict[str, Any]], *, uses: str | None = None, run: str | None = None) -> dict[str, Any]:
    for item in steps:
        if (uses and str(item.get("uses", "")).startswith(uses)) or (run and run in str(item.get("run", ""))):
            return item
    raise AssertionError(f"no step uses {uses!r} / runs {run!r}")


def command(item: dict[str, Any], program: str | None = None) -> list[str]:
    """A step's command line (continuation lines joined); with ``program``, the line that runs it."""
    script = str(item["run"]).replace("\\\n", " ")
    if program is not None:
        script = next(line for line in script.splitlines() if line.strip().startswith(program))
    return shlex.split(" ".join(script.split()))


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
    merge_args = command(step(steps, run="python -m verification merge"))
    assert f"{report_args[report_args.index('--out') + 1]}/index.html" in paths
    assert f"{merge_args[merge_args.index('--out') + 1]}/evidence" in paths
    assert all(s.get("if") == "always()" for s in uploads)  # uploaded when requirements fail, above all


def test_shards_run_as_a_matrix_and_one_job_merges_them(jobs: dict[str, Any]) -> None:
    """N shard jobs, each ``--shard I/N`` into its own folder; the merge job takes every folder."""
    verify, merge = jobs["verify"], jobs["merge"]
    shards = verify["strategy"]["matrix"]["shard"]
    assert shards == list(range(1, len(shards) + 1)) and len(shards) >= 2
    assert verify["strategy"]["fail-fast"] is False
    args = verify_command(verify["steps"])
    # Expressions without inner spaces: the action splits its args as a shell would, after GitHub fills them.
    assert args[args.index("--shard") + 1] == f"${{{{matrix.shard}}}}/{len(shards)}"
    folder = verify["env"]["SHARD_DIR"]
    assert args[args.index("--alluredir") + 1] == "${{env.SHARD_DIR}}/allure-results"
    assert args[args.index("--evidence-dir") + 1] == "${{env.SHARD_DIR}}/evidence"
    # Each shard's SARIF is its own file; the plugin gives it a category of its own (/shard-I-of-N).
    assert verify_step(verify["steps"])["with"]["sarif"].startswith("${{ env.SHARD_DIR }}/")
    upload = step(verify["steps"], uses="actions/upload-artifact@")
    assert upload["with"]["path"] == "${{ env.SHARD_DIR }}" and upload["if"] == "always()"
    assert folder.endswith("${{ matrix.shard }}")

    assert merge["needs"] == "verify" and merge["if"] == "always()"
    download = step(merge["steps"], uses="actions/download-artifact@")
    assert upload["with"]["name"].replace("${{ matrix.shard }}", "*") == download["with"]["pattern"]
    merge_args = command(step(merge["steps"], run="python -m verification merge"))
    named = [
        arg for arg in merge_args[4:] if not arg.startswith("--") and arg != merge_args[merge_args.index("--out") + 1]
    ]
    assert named == [
        f"{download['with']['path']}/{upload['with']['name'].replace('${{ matrix.shard }}', str(i))}" for i in shards
    ]
    out = merge_args[merge_args.index("--out") + 1]
    assert f"{out}/summary.md" in str(step(merge["steps"], run="GITHUB_STEP_SUMMARY")["run"])
    assert command(step(merge["steps"], run="evidence verify"))[-1] == f"{out}/evidence"
    report_args = command(step(merge["steps"], run="python -m verification report"))
    assert report_args[report_args.index("--results") + 1] == f"{out}/allure-results"


def test_the_run_fails_when_any_requirement_fails_or_breaks(jobs: dict[str, Any]) -> None:
    """Each shard keeps the action's exit status in its folder; the merge job's last step fails on any but 0."""
    verify = verify_step(jobs["verify"]["steps"])
    assert verify["with"]["fail-on-findings"] == "false"  # the report is still built and uploaded first
    keep = step(jobs["verify"]["steps"], run="exit-status")
    assert keep["env"]["STATUS"] == f"${{{{ steps.{verify['id']}.outputs.exit-status }}}}"
    assert '> "$SHARD_DIR/exit-status"' in keep["run"] and keep["if"] == "always()"
    last = jobs["merge"]["steps"][-1]
    assert "shards/shard-*/exit-status" in last["run"] and "exit 1" in last["run"]
    assert f"-eq {len(jobs['verify']['strategy']['matrix']['shard'])}" in last["run"]
    assert "if" not in last  # runs only when every step before it succeeded: a failed merge fails the run too


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
