"""The pre-commit hooks' entry, run as pre-commit runs it: the hook's entry and args, then the changed files."""

from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

from tests.support.templates import DATA, PLAN_KNOWN, PROFILE, document, grant, template, worker

ROOT = Path(__file__).resolve().parents[3]
HOOKS = {hook["id"]: hook for hook in yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text())}
SMALL_SET = DATA / "small-requirements.yaml"


def _entry(hook: dict[str, Any]) -> list[str]:
    """The hook's entry as pre-commit runs it (language: python installs the console script)."""
    command = shlex.split(hook["entry"])
    script = Path(sys.executable).with_name(command[0])
    return [str(script) if script.exists() else command[0], *command[1:]]


def _run(hook_id: str, args: list[str], files: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    hook = HOOKS[hook_id]
    # pre-commit filters the changed files by the hook's `files` pattern and types before calling.
    chosen = [name for name in files if re.search(hook["files"], name)]
    return subprocess.run(
        [*_entry(hook), *args, *chosen], cwd=cwd, capture_output=True, text=True, timeout=300, check=False
    )


def test_the_template_hook_verifies_each_changed_template_and_skips_other_yaml(tmp_path: Path) -> None:
    good = template(tmp_path, {"Worker": worker(), "Profile": PROFILE}, name="good.json")
    denied = document(
        grant("ec2:CreateTags", "ec2:DescribeInstances"),
        {"Effect": "Deny", "Action": "ec2:CreateTags", "Resource": "*"},
    )
    bad = template(
        tmp_path,
        {"Worker": worker(Policies=[{"PolicyName": "p", "PolicyDocument": denied}]), "Profile": PROFILE},
        name="bad.json",
    )
    (tmp_path / "ci.yml").write_text("on: push\njobs: {}\n")
    done = _run(
        "verify-cloudformation-roles",
        ["--requirements", str(SMALL_SET), "--appliance-principal", "111111111111"],
        [good.name, bad.name, "ci.yml", "README.md"],
        tmp_path,
    )
    assert done.returncode == 1, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert "good.json: every requirement met" in lines
    assert "bad.json: FAILED" in lines
    assert "ci.yml: skipped (not a template that declares an IAM role)" in lines
    failed = [line for line in lines if line.startswith("  bad.json:")]
    deny_line = next(n for n, text in enumerate(bad.read_text().splitlines(), 1) if '"Effect": "Deny"' in text) - 1
    assert failed == [
        f"  bad.json:{deny_line}: error permission:ec2:CreateTags: bad.json/Worker: explicitly denied by p "
        "(lines 11-16). What to change: remove or narrow the Deny in p (lines 11-16) for ec2:CreateTags; "
        "adding an Allow to the role will not help"
    ]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.json", "ci.yml", "good.json"]  # nothing written


def test_the_template_hook_passes_when_every_changed_template_does(tmp_path: Path) -> None:
    one = template(tmp_path, {"Worker": worker(), "Profile": PROFILE}, name="one.json")
    two = template(tmp_path, {"Worker": worker(RoleName="Other"), "Profile": PROFILE}, name="two.json")
    done = _run(
        "verify-cloudformation-roles",
        ["--requirements", str(SMALL_SET), "--appliance-principal", "111111111111", "--sarif-dir", "sarif"],
        [one.name, two.name],
        tmp_path,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.splitlines() == ["one.json: every requirement met", "two.json: every requirement met"]
    written = sorted((tmp_path / "sarif").glob("*.sarif"))
    assert [p.name for p in written] == ["one.sarif", "two.sarif"]
    assert all(json.loads(p.read_text())["runs"][0]["results"] == [] for p in written)


def test_the_plan_hook_verifies_a_changed_plan(tmp_path: Path) -> None:
    shutil.copytree(PLAN_KNOWN.parent, tmp_path / "infra")
    (tmp_path / "package.json").write_text("{}")
    done = _run(
        "verify-terraform-plan-roles",
        ["--appliance-principal", "111111111111", "--account", "123456789012"],
        ["infra/plan.json", "package.json"],
        tmp_path,
    )
    assert done.returncode == 1, done.stdout + done.stderr
    assert "infra/plan.json: FAILED" in done.stdout.splitlines()
    failed = [line for line in done.stdout.splitlines() if line.startswith("  infra/plan.json:")]
    assert failed and all(": plan.json/aws_iam_role.denied: " in line for line in failed)
    assert any(" error permission:ec2:DeleteSnapshot: " in line for line in failed)


def test_each_hook_has_what_pre_commit_requires() -> None:
    """pre-commit's manifest: id, name, entry and language; the file patterns are Python regexes."""
    assert set(HOOKS) == {"verify-cloudformation-roles", "verify-terraform-plan-roles"}
    for hook in HOOKS.values():
        assert {"id", "name", "entry", "language"} <= set(hook)
        assert hook["language"] == "python"  # pre-commit installs this repository, with its console script
        assert shlex.split(hook["entry"])[:2] == ["veeam-role-verification", "precommit"]
        re.compile(hook["files"])
    assert re.search(HOOKS["verify-cloudformation-roles"]["files"], "cdk.out/App.template.json")
    assert re.search(HOOKS["verify-terraform-plan-roles"]["files"], "infra/tfplan.json")
    assert not re.search(HOOKS["verify-terraform-plan-roles"]["files"], "package.json")
