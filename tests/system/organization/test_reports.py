"""Account names and OU paths in every report: Allure, the step summary, JUnit and the evidence bundle."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

from tests.system.organization.conftest import Org, run_org


def test_every_report_names_the_account_and_its_ou_path(org: Org, tmp_path: Path) -> None:
    prod = org.ou("Workloads/Prod")
    a, b = org.account("prod-a"), org.account("prod-b")
    args = org.args(
        "--ou", prod, "--alluredir", str(tmp_path / "allure"), "--evidence-dir", str(tmp_path / "evidence"),
        "--junitxml", str(tmp_path / "junit.xml"), "--step-summary", str(tmp_path / "summary.md"), "-q",
    )  # fmt: skip
    result = run_org(org, args, tmp_path)
    assert result.returncode == 1, result.stdout[-3000:] + result.stderr  # the misconfigured worker fails

    suites: dict[str, int] = {}
    for path in (tmp_path / "allure").glob("*-result.json"):
        labels = json.loads(path.read_text())["labels"]
        parent = next(label["value"] for label in labels if label["name"] == "parentSuite")
        tags = {label["value"] for label in labels if label["name"] == "tag"}
        suites[parent] = suites.get(parent, 0) + 1
        assert "ou:Root/Workloads/Prod" in tags
    assert set(suites) == {f"prod-a ({a})", f"prod-b ({b})"}

    summary = (tmp_path / "summary.md").read_text()
    assert f"arn:aws:iam::{a}:role/VeeamFLRWorker<br>prod-a ({a}), Root/Workloads/Prod" in summary

    properties = {p.get("name"): p.get("value") for p in ET.parse(tmp_path / "junit.xml").getroot().iter("property")}
    assert properties[f"account {a}"] == "prod-a; Root/Workloads/Prod"
    assert properties["organization"] == org.seeded.management

    run = json.loads((tmp_path / "evidence" / "run.json").read_text())
    accounts = run["organization"]["accounts"]
    assert set(accounts) == {a, b}
    assert accounts[a]["name"] == "prod-a" and accounts[a]["ou_path"] == "Root/Workloads/Prod"
    assert sorted(accounts[a]["roles"]) == [
        f"arn:aws:iam::{a}:role/VeeamFLRWorker",
        f"arn:aws:iam::{a}:role/VeeamFLRWorkerMisconfigured",
    ]
