"""Evidence that fits: a passing role in at most 100 KiB of Allure results and evidence, every answer kept."""

from __future__ import annotations

import json
import re
import subprocess
import sys

from tests.system.evidence.conftest import Verification
from verification.reporting.evidence import read_exchanges

PASSING = "arn:aws:iam::123456789012:role/VeeamFLRWorker"
FAILING = "arn:aws:iam::123456789012:role/VeeamFLRWorkerMisconfigured"
LIMIT = 100 * 1024


def allure_bytes(demo_run: Verification, role: str) -> int:
    """The role's Allure result files and their attachments, in bytes."""
    folder = demo_run.junit.parent / "allure"
    total = 0
    for path in folder.glob("*-result.json"):
        result = json.loads(path.read_text())
        if any(label["name"] == "role" and label["value"] == role for label in result["labels"]):
            total += path.stat().st_size
            total += sum((folder / a["source"]).stat().st_size for a in result.get("attachments", ()))
    return total


def evidence_bytes(demo_run: Verification, role: str) -> int:
    folder = demo_run.bundle / json.loads((demo_run.bundle / "run.json").read_text())["roles"][role]
    return sum(path.stat().st_size for path in folder.iterdir())


def test_a_passing_role_fits_in_100_kib_of_allure_results_and_evidence(demo_run: Verification) -> None:
    size = allure_bytes(demo_run, PASSING) + evidence_bytes(demo_run, PASSING)

    assert 0 < size <= LIMIT, f"{size / 1024:.1f} KiB"


def test_a_failing_role_keeps_its_full_detail_in_allure(demo_run: Verification) -> None:
    folder = demo_run.junit.parent / "allure"
    names = [
        attachment["name"]
        for path in folder.glob("*-result.json")
        for attachment in json.loads(path.read_text()).get("attachments", ())
    ]
    assert "API exchanges for 123456789012/VeeamFLRWorkerMisconfigured" in names
    assert "API exchanges for 123456789012/VeeamFLRWorker" not in names
    assert allure_bytes(demo_run, FAILING) > 4 * allure_bytes(demo_run, PASSING)
    # Exactly the answers its evidence keeps: attached as encoded for the bundle, every one of them.
    (source,) = [
        attachment["source"]
        for path in folder.glob("*-result.json")
        for attachment in json.loads(path.read_text()).get("attachments", ())
        if attachment["name"] == "API exchanges for 123456789012/VeeamFLRWorkerMisconfigured"
    ]
    kept = demo_run.bundle / json.loads((demo_run.bundle / "run.json").read_text())["roles"][FAILING]
    assert json.loads((folder / source).read_text()) == read_exchanges(kept)["exchanges"]


def test_evidence_show_reads_back_every_answer_of_a_role(demo_run: Verification) -> None:
    folder = demo_run.bundle / json.loads((demo_run.bundle / "run.json").read_text())["roles"][PASSING]
    kept = read_exchanges(folder)["exchanges"]
    shown = subprocess.run(
        [sys.executable, "-m", "verification", "evidence", "show", str(demo_run.bundle), "--role", PASSING],
        capture_output=True,
        text=True,
        check=True,
    )
    data = json.loads(shown.stdout)
    assert data["exchanges"] == kept and len(kept) >= 3
    assert {e["operation"] for e in kept} >= {"GetRole", "SimulatePrincipalPolicy"}
    assert {v["outcome"] for v in data["verdicts"]} == {"passed"}
    listed = subprocess.run(
        [sys.executable, "-m", "verification", "evidence", "show", str(demo_run.bundle)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert re.search(rf"^{re.escape(PASSING)}: \d+ passed; {len(kept)} API answer\(s\) in ", listed, re.M)
    assert re.search(rf"^{re.escape(FAILING)}: \d+ failed, \d+ passed", listed, re.M)
