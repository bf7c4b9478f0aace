"""``python -m verification merge --out DIR S1 S2 ...``: the shards of one night, as if from one run.

Each shard folder S holds what ``pytest --shard I/N --alluredir S/allure-results --evidence-dir
S/evidence`` wrote. Into DIR go:

- ``allure-results/``: every shard's results and attachments (file names are UUIDs; history ids are
  computed from each test's name and parameters, so they and the trend are those of one run), one
  ``categories.json``, an ``environment.properties`` naming the shards, and the summed API counts;
- ``evidence/``: one bundle: the shards' roles, the replay snapshot merged over every role, a
  run.json whose ``shards`` lists each shard, and a manifest covering every file
  (``python -m verification evidence verify DIR/evidence`` checks it);
- ``summary.md``: a Markdown table, a row per role, failing roles first;
- ``junit.xml``: one test case per result;
- ``role-verification.sarif``, when the shards wrote SARIF (``--sarif S/NAME.sarif``): one run per
  category, each shard's ``.../shard-I-of-N`` joined into its run (``reporting/sarif.py``).

It refuses, in one line and before writing anything, shards whose bundle does not verify, shards of
different requirement sets or harness versions, an account that appears in two shards, and shards
none of which verified a role.
"""

from __future__ import annotations

import argparse
import json
import shlex
import shutil
import sys
import time
import xml.etree.ElementTree as ET
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from verification import __version__
from verification.errors import InputError
from verification.reporting import evidence
from verification.reporting.markdown import cell
from verification.reporting.sarif import write_merged

#: The requirement an unreachable account's result names (``verification.fleet.organization``).
ACCOUNT_REQUIREMENT = "account:member-role"
RESULTS = "allure-results"
EVIDENCE = "evidence"
#: The merged SARIF (when the shards wrote any), beside the summary.
SARIF_NAME = "role-verification.sarif"


@dataclass
class Shard:
    """One shard's folder, its run metadata and the accounts it verified."""

    path: Path
    run: dict[str, Any]
    accounts: set[str] = field(default_factory=set)

    @property
    def results(self) -> Path:
        return self.path / RESULTS

    @property
    def bundle(self) -> Path:
        return self.path / EVIDENCE

    @property
    def requirement_sets(self) -> list[tuple[str, str, str]]:
        return sorted((r["id"], r["version"], r["sha256"]) for r in self.run.get("requirement_sets", ()))

    @property
    def harness(self) -> str:
        return str((self.run.get("harness") or {}).get("version"))


def read_shard(path: Path) -> Shard:
    """A shard folder, checked: both parts present, its evidence bundle verified against its manifest."""
    for part in (RESULTS, EVIDENCE):
        if not (path / part).is_dir():
            raise InputError(
                f"merge: {path} has no {part}/ (run each shard with --alluredir {path}/{RESULTS} "
                f"--evidence-dir {path}/{EVIDENCE})"
            )
    problems = evidence.verify(path / EVIDENCE)
    if problems:
        raise InputError(
            f"merge: {path}/{EVIDENCE} does not match its manifest ({problems[0]}): it cannot be vouched for"
        )
    run = json.loads((path / EVIDENCE / "run.json").read_text())
    accounts = set(run.get("accounts") or ())
    accounts |= set((run.get("organization") or {}).get("accounts") or {})
    return Shard(path, run, accounts)


def check_shards(shards: Sequence[Shard]) -> None:
    """One line for the first reason the shards are not parts of one run."""
    # A shard whose accounts held no role verified no requirement set: it agrees with any.
    verifying = [shard for shard in shards if shard.requirement_sets] or list(shards)
    first = verifying[0]
    for shard in shards:
        if shard.requirement_sets and shard.requirement_sets != first.requirement_sets:
            raise InputError(
                f"merge: {shard.path} verified other requirement sets than {first.path} "
                f"({_sets(shard)} vs {_sets(first)}): merge only shards of one run"
            )
        if shard.harness != first.harness:
            raise InputError(
                f"merge: {shard.path} was written by harness {shard.harness}, {first.path} by {first.harness}: "
                "merge only shards of one run"
            )
    if not any(any(shard.results.glob("*-result.json")) for shard in shards):
        # Every shard may be empty on its own (few accounts, many shards), but a night that verified
        # no role at all is a mistake (a role-name pattern or --ou that matches nothing), not a pass.
        raise InputError(
            "merge: no shard verified any role: check the --role-name patterns, --ou/--skip-* and each "
            "shard's log; a night that verified nothing is not a pass"
        )
    seen: dict[str, Path] = {}
    for shard in shards:
        for account in sorted(shard.accounts):
            if account in seen:
                raise InputError(
                    f"merge: account {account} is in both {seen[account]} and {shard.path}: "
                    "a shard run twice, or shards of different --shard N"
                )
            seen[account] = shard.path


def _sets(shard: Shard) -> str:
    return ", ".join(f"{i} {v} ({s[:12]})" for i, v, s in shard.requirement_sets) or "none"


def merge(out: Path, paths: Sequence[Path]) -> dict[str, Any]:
    """Merge the shard folders into ``out``; returns figures (results, roles, seconds) for the caller."""
    started = time.perf_counter()
    if len(paths) < 1:
        raise InputError("merge: name at least one shard folder")
    if len(set(p.resolve() for p in paths)) != len(paths):
        raise InputError("merge: a shard folder is named twice")
    shards = [read_shard(path) for path in paths]
    check_shards(shards)
    if out.exists() and any(out.iterdir()):
        raise InputError(f"merge: {out} is not empty: merge into a new folder")
    results = _merge_results(out / RESULTS, shards)
    _merge_evidence(out / EVIDENCE, shards)
    rows = _rows(out / RESULTS)
    organization = _organization(shards)
    (out / "summary.md").write_text(summary(rows, organization, shards), encoding="utf-8")
    junit(rows, out / "junit.xml")
    sarif_files = sorted(file for shard in paths for file in shard.glob("*.sarif"))
    if sarif_files:
        write_merged(sarif_files, out / SARIF_NAME)
    return {"results": results, "roles": len(rows), "seconds": time.perf_counter() - started}


def _merge_results(target: Path, shards: Sequence[Shard]) -> int:
    """Copy every result and attachment; one categories.json; environment and API counts for the whole."""
    target.mkdir(parents=True)
    count = 0
    calls: dict[str, dict[str, dict[str, int]]] = {}
    environment: dict[str, str] = {}
    for shard in shards:
        for path in shard.results.iterdir():
            if path.name == "environment.properties":
                for line in path.read_text().splitlines():
                    key, _, value = line.partition("=")
                    if key == "Accounts" and key in environment:  # the union; every other key as the first shard's
                        value = ", ".join(sorted({*environment[key].split(", "), *value.split(", ")} - {""}))
                        environment[key] = value
                    else:
                        environment.setdefault(key, value)
            elif path.name == "api-calls.json":
                _add_calls(calls, json.loads(path.read_text()))
            elif path.name == "categories.json":
                if not (target / path.name).exists():
                    shutil.copy2(path, target / path.name)
            elif path.is_file():
                if (target / path.name).exists():
                    raise InputError(f"merge: {path.name} is in two shards: a shard folder was copied into another")
                shutil.copy2(path, target / path.name)
                count += path.name.endswith("-result.json")
    environment["Shards"] = ", ".join(str(shard.path) for shard in shards)
    (target / "environment.properties").write_text(
        "".join(f"{key}={value}\n" for key, value in environment.items()), encoding="utf-8"
    )
    if calls:
        (target / "api-calls.json").write_text(json.dumps(calls, indent=2))
    return count


def _add_calls(total: dict[str, dict[str, dict[str, int]]], counts: Mapping[str, Any]) -> None:
    for kind, accounts in counts.items():
        for account, operations in (accounts or {}).items():
            into = total.setdefault(kind, {}).setdefault(account, {})
            for operation, n in operations.items():
                into[operation] = into.get(operation, 0) + int(n)


def _merge_evidence(target: Path, shards: Sequence[Shard]) -> None:
    """One bundle: the roles of every shard, the merged replay snapshot, run.json listing the shards, a manifest."""
    target.mkdir(parents=True)
    calls: dict[str, dict[str, dict[str, int]]] = {}
    for shard in shards:
        for path in sorted(shard.bundle.rglob("*")):
            relative = path.relative_to(shard.bundle)
            if (
                not path.is_file()
                or relative.as_posix() in (evidence.MANIFEST, "run.json")
                or relative.parts[0] == "replay"
            ):
                continue
            if relative.name == "api-calls.json" and len(relative.parts) == 1:
                _add_calls(calls, json.loads(path.read_text()))
                continue
            destination = target / relative
            if destination.exists():
                if relative.parts[0] == "requirements" and destination.read_bytes() == path.read_bytes():
                    continue  # the same requirement set file, checked equal across shards
                raise InputError(f"merge: {relative} is in two shards' evidence")
            destination.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, destination)
    if calls:
        (target / "api-calls.json").write_text(json.dumps(calls, indent=2))
    base = next((shard for shard in shards if shard.requirement_sets), shards[0])  # an empty shard says less
    first = base.run
    merged_details, scps, methods = evidence._merge_roles(target)
    snapshot_path = target / evidence.REPLAY_SNAPSHOT
    recorded = base.bundle / evidence.REPLAY_SNAPSHOT
    snapshot = json.loads(recorded.read_text()) if recorded.is_file() else {}
    accounts = sorted({a for shard in shards for a in shard.run.get("accounts") or ()})
    snapshot.update(
        account_id=accounts[0] if len(accounts) == 1 else None,
        scps=scps,
        scp_note=None if scps is not None else "none recorded",
        note=f"merged from {len(shards)} shard(s), from {', '.join(sorted(methods)) or 'no'} role details",
        authorization_details=merged_details,
    )
    snapshot_path.parent.mkdir(parents=True, exist_ok=True)
    snapshot_path.write_text(json.dumps(snapshot, indent=2))
    metadata = dict(first)
    metadata.update(
        started_at=min(s.run.get("started_at", "") for s in shards),
        finished_at=max(s.run.get("finished_at", "") for s in shards),
        merged_at=datetime.now(UTC).isoformat(),
        merged_by={"name": "veeam-role-verification", "version": __version__},
        accounts=accounts,
        roles={arn: where for shard in shards for arn, where in (shard.run.get("roles") or {}).items()},
        shards=[
            {
                "folder": str(shard.path),
                "shard": (shard.run.get("organization") or {}).get("shard"),
                "started_at": shard.run.get("started_at"),
                "finished_at": shard.run.get("finished_at"),
                "caller": shard.run.get("caller"),
                "accounts": sorted(shard.accounts),
                "roles": len(shard.run.get("roles") or {}),
                "manifest_sha256": evidence._sha256(shard.bundle / evidence.MANIFEST),
            }
            for shard in shards
        ],
    )
    organization = _organization(shards)
    if organization is not None:
        metadata["organization"] = organization
    metadata["replay"] = {**(first.get("replay") or {}), "commands": _replay_commands(shards)}
    (target / "run.json").write_text(json.dumps(metadata, indent=2))
    evidence.write_manifest(target)


def _replay_commands(shards: Sequence[Shard]) -> list[str]:
    """Each requirement set's replay command, with the roles of every shard."""
    by_set: dict[int, list[str]] = {}
    roles: dict[int, list[str]] = defaultdict(list)
    for shard in shards:
        for index, command in enumerate((shard.run.get("replay") or {}).get("commands") or ()):
            args = shlex.split(command)
            kept: list[str] = []
            words = iter(args)
            for word in words:
                if word == "--role-arn":
                    roles[index].append(next(words))
                else:
                    kept.append(word)
            by_set.setdefault(index, kept)
    return [
        shlex.join([*by_set[i], *(w for arn in dict.fromkeys(roles[i]) for w in ("--role-arn", arn))])
        for i in sorted(by_set)
    ]


def _organization(shards: Sequence[Shard]) -> dict[str, Any] | None:
    """The organization block of run.json, its accounts the union over the shards."""
    blocks = [s.run["organization"] for s in shards if s.run.get("organization")]
    if not blocks:
        return None
    merged = {key: value for key, value in blocks[0].items() if key not in ("accounts", "shard")}
    merged["shards"] = [block.get("shard") for block in blocks]
    merged["accounts"] = {a: d for block in blocks for a, d in (block.get("accounts") or {}).items()}
    return merged


@dataclass
class Row:
    """One role (or unreachable account) as the results tell it."""

    role: str
    where: str = ""
    counts: Counter[str] = field(default_factory=Counter)
    reasons: list[str] = field(default_factory=list)
    cases: list[tuple[str, str, str, str]] = field(default_factory=list)

    @property
    def verdict(self) -> str:
        if self.counts["failed"]:
            return "FAILED"
        if self.counts["broken"]:
            return "BROKEN"
        return "ok"


def _rows(results: Path) -> dict[str, Row]:
    """Per role: outcome counts, the first few reasons, and each test (name, status, message, trace)."""
    rows: dict[str, Row] = {}
    for path in sorted(results.glob("*-result.json")):
        result = json.loads(path.read_text())
        labels: dict[str, list[str]] = defaultdict(list)
        for label in result.get("labels") or ():
            labels[label["name"]].append(label["value"])
        role = (labels.get("role") or ["(no role)"])[0]
        requirement = (labels.get("requirement") or [""])[0]
        row = rows.setdefault(role, Row(role))
        ou = next((t[3:] for t in labels.get("tag", ()) if t.startswith("ou:")), "")
        parent = (labels.get("parentSuite") or [""])[0]
        row.where = ", ".join(x for x in (parent, ou) if x)
        status = str(result.get("status") or "unknown")
        row.counts[status] += 1
        details = result.get("statusDetails") or {}
        message = str(details.get("message") or "").strip()
        if status in ("failed", "broken") and len(row.reasons) < 5:
            row.reasons.append(f"{status}: `{requirement}`: {message.splitlines()[0] if message else status}")
        function = str(result.get("fullName") or "").rpartition("#")[2] or "test"
        label = role.split(":")[4] + "/" + role.rsplit("/", 1)[-1] if role.count(":") >= 5 else role
        case = label if requirement == ACCOUNT_REQUIREMENT else f"{label}-{requirement}"
        row.cases.append((f"{function}[{case}]", status, message, str(details.get("trace") or "")))
    return rows


def summary(rows: Mapping[str, Row], organization: Mapping[str, Any] | None, shards: Sequence[Shard]) -> str:
    """The whole night as Markdown: a row per role, failing roles first, then the shards."""
    ordered = sorted(rows.values(), key=lambda r: (r.verdict == "ok", r.role))
    totals: Counter[str] = Counter()
    for row in rows.values():
        totals.update(row.counts)
    lines = [
        "## Role verification",
        "",
        f"{len(rows)} role(s) from {len(shards)} shard(s): {totals['passed']} passed, {totals['failed']} failed, "
        f"{totals['broken']} broken, {totals['skipped']} skipped.",
        "",
        "| role | account | verdict | passed | failed | broken | skipped | failed and broken requirements |",
        "| --- | --- | --- | ---: | ---: | ---: | ---: | --- |",
    ]
    for row in ordered:
        shown = list(row.reasons)
        rest = row.counts["failed"] + row.counts["broken"] - len(shown)
        if rest > 0:
            shown.append(f"and {rest} more")
        lines.append(
            f"| {cell(row.role)} | {cell(row.where)} | {row.verdict} | {row.counts['passed']} | "
            f"{row.counts['failed']} | {row.counts['broken']} | {row.counts['skipped']} | "
            f"{cell(chr(10).join(shown))} |"
        )
    lines += ["", "| shard | accounts | roles | started | finished |", "| --- | ---: | ---: | --- | --- |"]
    for shard in shards:
        which = (shard.run.get("organization") or {}).get("shard") or shard.path.name
        lines.append(
            f"| {cell(str(which))} | {len(shard.accounts)} | {len(shard.run.get('roles') or {})} | "
            f"{shard.run.get('started_at', '')} | {shard.run.get('finished_at', '')} |"
        )
    if organization:
        lines += [
            "",
            f"Organization {organization.get('management_account')}: member role "
            f"{organization.get('member_role')}, {len(organization.get('accounts') or {})} account(s).",
        ]
    return "\n".join(lines) + "\n"


def junit(rows: Mapping[str, Row], path: Path) -> None:
    """A JUnit file of the whole: one test case per result (failed → failure, broken → error)."""
    cases = [case for row in rows.values() for case in row.cases]
    statuses = Counter(status for _, status, _, _ in cases)
    suite = ET.Element(
        "testsuite",
        name="role verification",
        tests=str(len(cases)),
        failures=str(statuses["failed"]),
        errors=str(statuses["broken"] + statuses["unknown"]),
        skipped=str(statuses["skipped"]),
    )
    properties = ET.SubElement(suite, "properties")
    for row in rows.values():
        if row.where:
            ET.SubElement(properties, "property", name=f"role {row.role}", value=row.where)
    for name, status, message, trace in sorted(cases):
        case = ET.SubElement(suite, "testcase", classname="verification.suite.test_requirements", name=name)
        first = message.splitlines()[0] if message else status
        if status == "failed":
            ET.SubElement(case, "failure", message=first).text = message
        elif status in ("broken", "unknown"):
            ET.SubElement(case, "error", message=first).text = message + ("\n" + trace if trace else "")
        elif status == "skipped":
            ET.SubElement(case, "skipped", message=first)
    root = ET.Element("testsuites")
    root.append(suite)
    ET.ElementTree(root).write(path, encoding="utf-8", xml_declaration=True)


def main(argv: Iterable[str] | None = None) -> int:
    """``python -m verification merge --out DIR S1 S2 ...``; 0 merged, 2 refused (one line)."""
    parser = argparse.ArgumentParser(prog="python -m verification merge", description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, required=True, metavar="DIR", help="a new (or empty) folder")
    parser.add_argument("shards", type=Path, nargs="+", metavar="SHARD", help="a shard's folder")
    args = parser.parse_args(None if argv is None else list(argv))
    try:
        figures = merge(args.out, args.shards)
    except InputError as error:
        print(error, file=sys.stderr)
        return 2
    print(
        f"merged {len(args.shards)} shard(s): {figures['results']} results, {figures['roles']} role(s) into "
        f"{args.out} ({figures['seconds']:.1f} s); check the evidence with "
        f"`python -m verification evidence verify {args.out / EVIDENCE}`"
    )
    return 0
