"""SARIF 2.1.0 for code scanning: a run's failed and broken tests as results, built from plain data.

Pure: the plugin hands over ``Finding``s (one per failed or broken test, wherever it ran, already
placed in a file and line) and the run's facts; nothing here knows pytest. A failed requirement is
a result at level ``error``, a broken one (could not be checked) at ``warning``; a passing one
writes nothing. Any test that fails or breaks can be a finding (a requirement, an excess group...):
the writer only needs its rule, its outcome, its role, its reason and fix, and where it points.

GitHub code scanning's own rules are kept: every result has a file and a line; each result's
``partialFingerprints`` hash the role and the rule, so an alert is tracked across runs; the rule's
``security-severity`` (from ``fixtures/sarif/security-severity.json``) and ``security`` tag rank
it; and each run has its own ``automationDetails.id`` category, since an upload with two runs of
one tool and category is refused. ``merge_sarif`` joins shards' files into one run per category.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from verification import FIXTURES

SARIF_VERSION = "2.1.0"
SARIF_SCHEMA = "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
TOOL_NAME = "veeam-role-verification"
#: Where people read about the tool when no project URL is in the package's metadata.
DEFAULT_INFORMATION_URI = "https://pypi.org/project/veeam-role-verification/"
#: The key of each result's fingerprint: a hash of the role and the rule (stable across runs).
FINGERPRINT_KEY = "roleRequirementHash/v1"
#: The base every artifact URI is relative to: the folder the run was started in.
SRCROOT = "%SRCROOT%"
LEVELS: Mapping[str, str] = {"failed": "error", "broken": "warning"}
SEVERITY_FILE = FIXTURES / "sarif" / "security-severity.json"
#: GitHub code scanning refuses a run with more results than this (its SARIF upload limits).
MAX_RESULTS = 25_000
#: A shard's part of a category: ``<category>/shard-2-of-4``.
SHARD_SUFFIX = re.compile(r"/shard-\d+-of-\d+$")

Outcome = Literal["failed", "broken"]


@dataclass(frozen=True)
class Rule:
    """What a result breaks: a requirement (its id, title, the page it comes from, its severity)."""

    id: str
    title: str
    help: str
    help_uri: str | None = None
    severity: str = "normal"
    tags: tuple[str, ...] = ()


@dataclass(frozen=True)
class Place:
    """A file (as named, relative to the run's folder) and a 1-based line, with logical names inside it."""

    uri: str
    line: int
    #: (fully qualified name, kind), such as ("aws_iam_role.worker", "resource").
    logical: tuple[tuple[str, str], ...] = ()
    #: What this place is, for a related location ("the Deny statement", "resource block in main.tf").
    note: str = ""


@dataclass(frozen=True)
class Finding:
    """One failed or broken test, as the SARIF writer needs it."""

    rule: Rule
    outcome: Outcome
    #: The role, as fingerprints and messages name it (an ARN, or ``FILE/LOGICAL_ID`` for a template).
    role: str
    reason: str
    fix: str
    place: Place
    related: tuple[Place, ...] = field(default_factory=tuple)

    def as_dict(self) -> dict[str, Any]:
        """Plain JSON data: how a finding travels from an xdist worker to the controller."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Finding:
        """The finding ``as_dict`` gave (lists back to tuples)."""
        rule = dict(data["rule"])
        rule["tags"] = tuple(rule.get("tags", ()))
        return cls(
            rule=Rule(**rule),
            outcome=data["outcome"],
            role=data["role"],
            reason=data["reason"],
            fix=data["fix"],
            place=_place(data["place"]),
            related=tuple(_place(p) for p in data.get("related", ())),
        )


def _place(data: Mapping[str, Any]) -> Place:
    logical = tuple((str(name), str(kind)) for name, kind in data.get("logical", ()))
    return Place(str(data["uri"]), int(data["line"]), logical, str(data.get("note", "")))


def security_severities(path: Path = SEVERITY_FILE) -> tuple[dict[str, float], float]:
    """The severity levels' CVSS-like numbers, and the number for a level the table lacks."""
    data = json.loads(path.read_text(encoding="utf-8"))
    return {str(k): float(v) for k, v in data["levels"].items()}, float(data["default"])


def fingerprint(role: str, rule_id: str) -> str:
    """A result's stable identity: the role and the rule, whatever the message or line says today."""
    return hashlib.sha256(f"{role}\0{rule_id}".encode()).hexdigest()


def category_of(base: str, shard: tuple[int, int] | None = None) -> str:
    """A run's category: the base (derived from the run or ``--sarif-category``), plus the shard if any."""
    return f"{base}/shard-{shard[0]}-of-{shard[1]}" if shard else base


def build_sarif(
    findings: Iterable[Finding],
    *,
    version: str,
    category: str,
    information_uri: str = DEFAULT_INFORMATION_URI,
    root_uri: str | None = None,
    exit_status: int | None = None,
    description: str = "",
    shard: tuple[int, int] | None = None,
    counts: Mapping[str, int] | None = None,
    max_results: int = MAX_RESULTS,
) -> dict[str, Any]:
    """One SARIF log with one run: a rule per requirement that appears, a result per finding.

    ``category`` is the run's full category (``category_of``); ``root_uri`` the ``file://`` URI of
    the folder every artifact URI is relative to; ``exit_status`` the run's (0, 1, 10 or pytest's);
    ``counts`` the run's tallies (roles, passed, failed, broken, skipped), kept in the run's properties
    for CI (the GitHub Action's outputs). A run over ``max_results`` keeps the failures and the most
    severe (see ``_cap``).
    """
    levels, default = security_severities()
    rules: dict[str, Rule] = {}
    results: list[dict[str, Any]] = []
    for finding in findings:
        index = list(rules).index(finding.rule.id) if finding.rule.id in rules else len(rules)
        rules.setdefault(finding.rule.id, finding.rule)
        results.append(_result(finding, index, levels.get(finding.rule.severity, default)))
    driver: dict[str, Any] = {
        "name": TOOL_NAME,
        "version": version,
        "informationUri": information_uri,
        "rules": [_rule(rule, levels.get(rule.severity, default)) for rule in rules.values()],
    }
    if re.fullmatch(r"\d+\.\d+\.\d+([-+].*)?", version):
        driver["semanticVersion"] = version
    run: dict[str, Any] = {
        "tool": {"driver": driver},
        "automationDetails": {"id": f"{category}/"},
        "results": results,
        "columnKind": "unicodeCodePoints",
        "properties": {
            "category": SHARD_SUFFIX.sub("", category),
            **({"shard": f"{shard[0]}/{shard[1]}"} if shard else {}),
        },
    }
    if counts is not None:
        run["properties"]["counts"] = dict(counts)
    if description:
        run["automationDetails"]["description"] = {"text": description}
    if root_uri:
        run["originalUriBaseIds"] = {SRCROOT: {"uri": root_uri if root_uri.endswith("/") else root_uri + "/"}}
    if exit_status is not None:
        run["invocations"] = [
            {
                "executionSuccessful": exit_status in (0, 1, 10),
                "exitCode": exit_status,
                "exitCodeDescription": EXIT_DESCRIPTIONS.get(exit_status, "see pytest's exit codes"),
            }
        ]
    _cap(run, max_results)
    return {"$schema": SARIF_SCHEMA, "version": SARIF_VERSION, "runs": [run]}


def _cap(run: dict[str, Any], limit: int) -> None:
    """Keep at most ``limit`` results, so the upload is accepted: errors first, then the most severe.

    What is left out is counted in the run's properties and said in a notification; the JUnit XML,
    the Allure results and the evidence bundle still hold every verdict.
    """
    results = run["results"]
    if len(results) <= limit:
        return

    def rank(index: int) -> tuple[int, float, int]:
        result = results[index]
        severity = float((result.get("properties") or {}).get("security-severity", 0))
        return (0 if result.get("level") == "error" else 1, -severity, index)

    kept = sorted(sorted(range(len(results)), key=rank)[:limit])
    left = len(results) - limit
    run["results"] = [results[i] for i in kept]
    run.setdefault("properties", {})["omittedResults"] = left
    invocations = run.setdefault("invocations", [{"executionSuccessful": True}])
    invocations[0].setdefault("toolExecutionNotifications", []).append(
        {
            "level": "warning",
            "message": {
                "text": f"{left} of {len(results)} results left out: code scanning accepts at most {limit} per run; "
                "the failures and the most severe are kept (JUnit, Allure and the evidence bundle hold all)"
            },
        }
    )


#: The documented exit statuses (docs/ci.md): what each says about the run.
EXIT_DESCRIPTIONS = {
    0: "every requirement met",
    1: "some requirement failed",
    10: "some requirements could not be checked, none failed",
    2: "interrupted",
    3: "internal error",
    4: "usage error or bad input",
    5: "nothing collected",
}


def _rule(rule: Rule, severity: float) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": rule.id,
        "name": _pascal(rule.id),
        "shortDescription": {"text": rule.title},
        "fullDescription": {"text": rule.help or rule.title},
        "help": {"text": rule.help + (f"\nSource: {rule.help_uri}" if rule.help_uri else "")},
        "defaultConfiguration": {"level": "error"},
        "properties": {
            "security-severity": f"{severity:.1f}",
            "tags": ["security", *rule.tags],
            "severity": rule.severity,
        },
    }
    if rule.help_uri:
        out["helpUri"] = rule.help_uri
        out["help"]["markdown"] = f"{rule.help}\n\nSource: [{rule.help_uri}]({rule.help_uri})"
    return out


def _pascal(rule_id: str) -> str:
    """A rule's ``name``: its id's words joined (``permission:ec2:CreateTags`` → ``PermissionEc2CreateTags``)."""
    return "".join(part[:1].upper() + part[1:] for part in re.split(r"[^A-Za-z0-9]+", rule_id) if part)


def _location(place: Place) -> dict[str, Any]:
    artifact = {"uri": place.uri}
    if not re.match(r"^[A-Za-z][A-Za-z0-9+.-]*:", place.uri):  # an absolute URI takes no base (SARIF 3.4.4)
        artifact["uriBaseId"] = SRCROOT
    location: dict[str, Any] = {
        "physicalLocation": {"artifactLocation": artifact, "region": {"startLine": max(1, place.line)}}
    }
    if place.logical:
        location["logicalLocations"] = [{"fullyQualifiedName": name, "kind": kind} for name, kind in place.logical]
    if place.note:
        location["message"] = {"text": place.note}
    return location


def _result(finding: Finding, rule_index: int, severity: float) -> dict[str, Any]:
    reason = " ".join(finding.reason.split())
    fix = " ".join(finding.fix.split())
    text = f"{finding.role}: {reason}" + (f". What to change: {fix}" if fix else "")
    result: dict[str, Any] = {
        "ruleId": finding.rule.id,
        "ruleIndex": rule_index,
        "level": LEVELS[finding.outcome],
        "message": {"text": text},
        "locations": [_location(finding.place)],
        "partialFingerprints": {FINGERPRINT_KEY: fingerprint(finding.role, finding.rule.id)},
        "properties": {
            "security-severity": f"{severity:.1f}",
            "outcome": finding.outcome,
            "role": finding.role,
        },
    }
    if finding.related:
        result["relatedLocations"] = [
            {"id": number, **_location(place)} for number, place in enumerate(finding.related, start=1)
        ]
    return result


# -- joining shards ----------------------------------------------------------------------------


def merge_sarif(paths: Sequence[Path | str], max_results: int = MAX_RESULTS) -> dict[str, Any]:
    """Join SARIF files (a sharded run's) into one log: one run per tool and category, shards merged.

    Shards of one run (``<category>/shard-I-of-N``) share a category once their shard part is
    dropped, so they become one run: rules joined (each result's ``ruleIndex`` renumbered),
    results and invocations appended, a result seen twice (same rule and fingerprint) kept once.
    Runs of other categories stay runs of their own, so the log is accepted in one upload.
    """
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for path in paths:
        log = json.loads(Path(path).read_text(encoding="utf-8"))
        for run in log.get("runs", []):
            groups.setdefault((run["tool"]["driver"]["name"], base_category(run)), []).append(run)
    return {
        "$schema": SARIF_SCHEMA,
        "version": SARIF_VERSION,
        "runs": [_merge_runs(category, runs, max_results) for (_, category), runs in groups.items()],
    }


def write_merged(paths: Sequence[Path | str], out: Path, *, per_category: bool = False) -> list[Path]:
    """``python -m verification merge``'s SARIF part: the shards' files joined into ``out``.

    One file holding one run per category; with ``per_category``, ``out`` is a folder that gets a
    file per category (``targets-fleet.yaml.sarif``), for one upload each. Returns what was written.
    """
    merged = merge_sarif(paths)
    if not per_category:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(merged, indent=2) + "\n", encoding="utf-8")
        return [out]
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for category, log in split_by_category(merged).items():
        path = out / (re.sub(r"[^A-Za-z0-9._-]+", "-", category).strip("-") + ".sarif")
        path.write_text(json.dumps(log, indent=2) + "\n", encoding="utf-8")
        written.append(path)
    return written


def split_by_category(log: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """One log per category (for one upload each): category → a log holding that category's runs."""
    out: dict[str, dict[str, Any]] = {}
    for run in log.get("runs", []):
        target = out.setdefault(
            base_category(run), {"$schema": log.get("$schema", SARIF_SCHEMA), "version": SARIF_VERSION, "runs": []}
        )
        target["runs"].append(run)
    return out


def base_category(run: Mapping[str, Any]) -> str:
    """A run's category without its shard part."""
    automation = str((run.get("automationDetails") or {}).get("id", "")).rstrip("/")
    return SHARD_SUFFIX.sub("", automation)


def _merge_runs(category: str, runs: list[dict[str, Any]], max_results: int) -> dict[str, Any]:
    first = runs[0]
    rules: dict[str, dict[str, Any]] = {}
    results: list[dict[str, Any]] = []
    seen: set[tuple[str, str]] = set()
    invocations: list[Any] = []
    for run in runs:
        driver = run["tool"]["driver"]
        own = [rule["id"] for rule in driver.get("rules", [])]
        for rule in driver.get("rules", []):
            rules.setdefault(rule["id"], rule)
        for result in run.get("results", []):
            key = (str(result.get("ruleId")), json.dumps(result.get("partialFingerprints", {}), sort_keys=True))
            if key in seen:
                continue
            seen.add(key)
            rule_id = result.get("ruleId") or own[result["ruleIndex"]]
            results.append({**result, "ruleId": rule_id, "ruleIndex": list(rules).index(rule_id)})
        invocations += run.get("invocations", [])
    merged: dict[str, Any] = {
        **{key: value for key, value in first.items() if key not in ("results", "invocations", "properties")},
        "tool": {"driver": {**first["tool"]["driver"], "rules": list(rules.values())}},
        "automationDetails": {**first.get("automationDetails", {}), "id": f"{category}/"},
        "results": results,
        "properties": {"category": category, "shards": len(runs)},
    }
    if invocations:
        merged["invocations"] = invocations
    _cap(merged, max_results)
    return merged
