"""SARIF checks shared by the SARIF tests: the vendored schema (read offline) and GitHub's own rules."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema  # type: ignore[import-untyped]

SCHEMA_FILE = Path(__file__).parent / "sarif_schema" / "sarif-schema-2.1.0.json"
_VALIDATOR = jsonschema.Draft4Validator(json.loads(SCHEMA_FILE.read_text(encoding="utf-8")))


def schema_errors(log: Any) -> list[str]:
    """Every way the log breaks the SARIF 2.1.0 schema (empty when it is valid)."""
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in _VALIDATOR.iter_errors(log)]


def code_scanning_faults(log: dict[str, Any]) -> list[str]:
    """What GitHub code scanning would drop or refuse: results without a file and line, shared categories."""
    faults = []
    categories = [run.get("automationDetails", {}).get("id") for run in log["runs"]]
    if len(set(categories)) != len(categories) or None in categories:
        faults.append(f"runs must each have their own automationDetails.id: {categories}")
    for run in log["runs"]:
        rules = [rule["id"] for rule in run["tool"]["driver"]["rules"]]
        for result in run["results"]:
            where = result["locations"][0]["physicalLocation"]
            uri = where["artifactLocation"]["uri"]
            if uri.startswith("/") or "://" in uri:
                faults.append(f"{result['ruleId']}: {uri} is not relative")
            if where["region"]["startLine"] < 1:
                faults.append(f"{result['ruleId']}: no line")
            if rules[result["ruleIndex"]] != result["ruleId"]:
                faults.append(f"{result['ruleId']}: ruleIndex {result['ruleIndex']} names {rules[result['ruleIndex']]}")
            if not result.get("partialFingerprints"):
                faults.append(f"{result['ruleId']}: no fingerprint")
    return faults


def read_back(base: Path, result: dict[str, Any]) -> str:
    """The source line a result points at, read from the file its URI names (relative to ``base``)."""
    where = result["locations"][0]["physicalLocation"]
    lines = (base / where["artifactLocation"]["uri"]).read_text(encoding="utf-8").splitlines()
    return str(lines[where["region"]["startLine"] - 1])
