"""What people read after a run: Allure's Suites tab and the Markdown step summary of a nightly job."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import pytest
from markdown_it import MarkdownIt

from verification import FIXTURES

DEMO_ACCOUNT = FIXTURES / "demo" / "account.json"
COMPLIANT = "arn:aws:iam::123456789012:role/VeeamFLRWorker"
MISCONFIGURED = "arn:aws:iam::123456789012:role/VeeamFLRWorkerMisconfigured"


def run_pytest(folder: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "PYTEST_")) and k != "GITHUB_STEP_SUMMARY"}
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *args],
        cwd=folder,
        env={**base, **(env or {})},
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.fixture(scope="module")
def offline_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Both demo roles, offline, with the step summary written through $GITHUB_STEP_SUMMARY."""
    folder = tmp_path_factory.mktemp("people")
    done = run_pytest(
        folder,
        "--snapshot",
        str(DEMO_ACCOUNT),
        "--role-arn",
        COMPLIANT,
        "--role-arn",
        MISCONFIGURED,
        "--appliance-principal",
        "arn:aws:iam::123456789012:role/VeeamImpersonation",
        env={"GITHUB_STEP_SUMMARY": str(folder / "step-summary.md")},
    )
    assert done.returncode == 1, done.stdout[-2000:]
    return folder


def test_allure_suites_group_account_then_role_then_requirement_kind(offline_run: Path) -> None:
    tree: dict[tuple[str, str], dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for path in (offline_run / "reports" / "allure-results").glob("*-result.json"):
        labels = defaultdict(list)
        for label in json.loads(path.read_text())["labels"]:
            labels[label["name"]].append(label["value"])
        assert len(labels["parentSuite"]) == len(labels["suite"]) == len(labels["subSuite"]) == 1, labels
        tree[(labels["parentSuite"][0], labels["suite"][0])][labels["subSuite"][0]] += 1
    assert set(tree) == {
        ("account 123456789012", "VeeamFLRWorker"),
        ("account 123456789012", "VeeamFLRWorkerMisconfigured"),
    }
    for kinds in tree.values():
        assert dict(kinds) == {"instance profile": 1, "trust": 2, "permissions": 82}


def test_the_step_summary_is_a_markdown_table_with_a_row_per_role(offline_run: Path) -> None:
    text = (offline_run / "step-summary.md").read_text()
    tokens = MarkdownIt().enable("table").parse(text)
    # The roles' table, then their excess permissions' (--excess report, docs/excess.md).
    assert [t.type for t in tokens].count("table_open") == 2
    rows: list[list[str]] = []
    row: list[str] = []
    for token in tokens:
        if token.type == "table_close":
            break
        if token.type == "tr_open":
            row = []
        elif token.type == "inline" and row is not None:
            row.append(token.content)
        elif token.type == "tr_close":
            rows.append(row)
    header, failing, passing = rows
    assert header[:6] == ["role", "verdict", "passed", "failed", "broken", "skipped"]
    assert failing[:6] == [MISCONFIGURED, "FAILED", "63", "22", "0", "0"]
    assert passing[:6] == [COMPLIANT, "ok", "85", "0", "0", "0"]
    assert "explicitly denied by NoDeletes (lines 3-12)" in failing[7]
    assert "and 17 more" in failing[7]  # five reasons shown, the rest counted
    assert "explicit-deny" in failing[6]
    assert "API calls" not in text  # offline: no API call was made, so none is listed


def test_step_summary_option_writes_the_same_to_a_file(tmp_path: Path) -> None:
    out = tmp_path / "summary.md"
    done = run_pytest(tmp_path, "--snapshot", str(DEMO_ACCOUNT), "--role-arn", COMPLIANT, "--step-summary", str(out))
    assert done.returncode == 0, done.stdout[-2000:]
    assert f"| {COMPLIANT} | ok | 84 | 0 | 0 | 1 |" in out.read_text()


def test_demo_without_the_demo_extra_says_what_to_install(tmp_path: Path) -> None:
    """Without moto (the [demo] extra), --demo and the endpoint command print one line and exit non-zero."""
    block_moto = "import sys; sys.modules['moto'] = None; "
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            block_moto + "import pytest; sys.exit(pytest.main(['--demo', '-p', 'no:cacheprovider']))",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == pytest.ExitCode.USAGE_ERROR
    assert "pip install 'veeam-role-verification[demo]'" in done.stderr
    assert "Traceback" not in done.stderr + done.stdout
    endpoint = subprocess.run(
        [sys.executable, "-c", block_moto + "from verification.__main__ import main; sys.exit(main(['endpoint']))"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert endpoint.returncode == 2
    assert endpoint.stderr.strip().splitlines() == [
        "python -m verification endpoint needs the [demo] extra: pip install 'veeam-role-verification[demo]'"
    ]


def test_passing_results_attach_small_evidence_and_failing_ones_all_of_it(tmp_path: Path) -> None:
    """At fleet scale every passing test's attachment counts: per-resource answers are counted there,
    and shown in full where the requirement is not met (and once per role in the API exchanges)."""
    done = run_pytest(tmp_path, "--demo", "-k", "ec2:CreateTags or ec2:DeleteSnapshot")
    assert done.returncode == 1, done.stdout[-2000:]
    seen = {}
    for path in (tmp_path / "reports" / "allure-results").glob("*-result.json"):
        result = json.loads(path.read_text())
        for attachment in result.get("attachments", []):
            if attachment["name"].endswith(" evidence"):
                body = (tmp_path / "reports" / "allure-results" / attachment["source"]).read_text()
                seen[(result["status"], attachment["name"])] = body
    passed = [body for (status, _), body in seen.items() if status == "passed"]
    failed = [body for (status, _), body in seen.items() if status == "failed"]
    assert passed and failed
    for body in passed:
        assert len(body.encode()) < 4096
        assert "per-resource answer(s) (allowed " in json.loads(body)["ResourceSpecificResults"]
    assert all(isinstance(json.loads(body)["ResourceSpecificResults"], list) for body in failed)
