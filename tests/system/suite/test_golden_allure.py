"""What the Allure report shows stays put: each result's name, status, labels, parameters, history id and attachments.

Users read Allure's Suites and Behaviors tabs by these labels, and its trends follow results by
history id; a refactoring of the plugin's Allure code must not move either. One offline run (the
demo's snapshot, a failing and a passing role, ``--excess fail``) is compared, result by result,
with ``golden/allure-results.json``: what varies from run to run (uuids, times, the host and
thread labels, attachment files) is left out. When a change means to alter what Allure shows,
regenerate the golden file with ``python -m tests.system.suite.test_golden_allure`` and say why in the commit.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from verification import FIXTURES

GOLDEN = Path(__file__).with_name("golden") / "allure-results.json"
ACCOUNT = "arn:aws:iam::123456789012:role"
ARGS = [
    "--role-arn",
    f"{ACCOUNT}/VeeamFLRWorkerMisconfigured",
    "--role-arn",
    f"{ACCOUNT}/VeeamFLRWorker",
    "--snapshot",
    str(FIXTURES / "demo" / "account.json"),
    "--appliance-principal",
    f"{ACCOUNT}/VeeamImpersonation",
    "--excess",
    "fail",
]
#: Labels allure-pytest takes from the machine and the process.
VARYING = {"host", "thread"}


def shown(result: dict[str, Any]) -> dict[str, Any]:
    """What a user sees of one result, without what varies between runs."""
    details = result.get("statusDetails") or {}
    return {
        "name": result["name"],
        "status": result["status"],
        "message": details.get("message"),
        "fullName": result.get("fullName"),
        "historyId": result.get("historyId"),
        "testCaseId": result.get("testCaseId"),
        "description": result.get("description"),
        "labels": [[label["name"], label["value"]] for label in result["labels"] if label["name"] not in VARYING],
        "parameters": [dict(parameter) for parameter in result.get("parameters", [])],
        "links": [[link.get("name"), link.get("url")] for link in result.get("links", [])],
        "attachments": [[attachment["name"], attachment["type"]] for attachment in result.get("attachments", [])],
    }


def allure_results(folder: Path) -> list[dict[str, Any]]:
    """Run the verification into ``folder`` and read back every result, in a stable order."""
    completed = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            *ARGS,
            "--alluredir",
            str(folder / "allure"),
            "--evidence-dir",
            str(folder / "evidence"),
            "-p",
            "no:cacheprovider",
            "-q",
        ],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert completed.returncode == 1, completed.stdout[-2000:] + completed.stderr[-2000:]
    results = [shown(json.loads(path.read_text())) for path in (folder / "allure").glob("*-result.json")]
    return sorted(results, key=lambda r: (r["historyId"] or "", r["name"]))


def test_the_allure_results_stay_the_same(tmp_path: Path) -> None:
    """Every result's name, status, labels, parameters, history id and attachment names, as before."""
    results = allure_results(tmp_path)
    golden = json.loads(GOLDEN.read_text())
    assert len(results) == len(golden)
    for got, expected in zip(results, golden, strict=True):
        assert got == expected, got["name"]


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as folder:
        GOLDEN.write_text(json.dumps(allure_results(Path(folder)), indent=1) + "\n")
    print(f"wrote {GOLDEN}")
