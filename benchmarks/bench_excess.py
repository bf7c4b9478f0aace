"""What --excess costs: offline time per role at 1,000 roles, and API calls per role live (#28).

Offline: a snapshot of 1,000 FLR worker roles (most made exactly from the page, some with the page's
actions under service wildcards such as ``ec2:Describe*``, some with one extra grant, a few with
AdministratorAccess), each gathered and judged as the tests do (the baseline: no --excess), then its
excess found as ``--excess report`` does. Both are timed in the same run; the ratio is the figure.

Live: the local endpoint holding ``--live-roles`` roles (the same mix, AdministratorAccess aside),
verified in fleet mode (GAAD: the engine decides, AWS's simulator confirms the high-risk groups) and
per role (one simulation of the high-risk table). Prints SimulatePrincipalPolicy calls per role with
and without --excess, for the roles without high-risk excess and for those with it.

This prints figures; it asserts nothing.

    python benchmarks/bench_excess.py [--roles 1000] [--live-roles 100] [--admin 5] [--suite [--workers 2]]

``--suite`` also times the pytest run itself on the same snapshot, ``--excess off`` then ``report``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from verification.backends import RoleRef  # noqa: E402
from verification.backends.snapshot import SnapshotBackend  # noqa: E402
from verification.errors import CheckError  # noqa: E402
from verification.requirements import load_requirement_set  # noqa: E402
from verification.verdicts import AppliancePrincipal, Scope, gather, judge  # noqa: E402
from verification.verdicts.excess import excess_for  # noqa: E402

ACCOUNT = "123456789012"
FLR = load_requirement_set("veeam-flr-worker-prod")
APPLIANCE = AppliancePrincipal.parse(f"arn:aws:iam::{ACCOUNT}:role/VeeamImpersonation")
ADMIN_ARN = "arn:aws:iam::aws:policy/AdministratorAccess"
TRUST = {
    "Version": "2012-10-17",
    "Statement": [
        {"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"},
        {"Effect": "Allow", "Principal": {"AWS": APPLIANCE.value}, "Action": "sts:AssumeRole"},
    ],
}


def document(*statements: dict[str, Any]) -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": list(statements)}


def kind_of(number: int, admin: int) -> str:
    """The role's make-up: exact (85%), wildcards (10%), an extra grant (5%), AdministratorAccess (``admin``)."""
    if number < admin:
        return "admin"
    rest = number % 20
    return "extra" if rest == 0 else "wildcards" if rest in (1, 2) else "exact"


def inline_for(kind: str) -> dict[str, Any]:
    actions = list(FLR.actions)
    if kind == "wildcards":  # the page's ec2 Describe actions as one wildcard: ~180 candidate actions
        actions = [a for a in actions if not a.startswith("ec2:Describe")] + ["ec2:Describe*"]
    statements = [{"Effect": "Allow", "Action": actions, "Resource": "*"}]
    if kind == "extra":
        statements.append({"Effect": "Allow", "Action": ["iam:PutRolePolicy", "s3:GetObject"], "Resource": "*"})
    return document(*statements)


def account(roles: int, admin: int) -> tuple[dict[str, Any], dict[str, str]]:
    """A details document with ``roles`` roles, and each role's kind."""
    entries, kinds = [], {}
    for number in range(roles):
        name = f"Worker{number:04d}"
        kind = kinds[f"arn:aws:iam::{ACCOUNT}:role/{name}"] = kind_of(number, admin)
        entries.append(
            {
                "RoleName": name,
                "RoleId": f"AROA{number:017d}",
                "Arn": f"arn:aws:iam::{ACCOUNT}:role/{name}",
                "Path": "/",
                "AssumeRolePolicyDocument": TRUST,
                "InstanceProfileList": [
                    {
                        "InstanceProfileName": name,
                        "Arn": f"arn:aws:iam::{ACCOUNT}:instance-profile/{name}",
                        "Roles": [{"RoleName": name}],
                    }
                ],
                "RolePolicyList": [{"PolicyName": "worker", "PolicyDocument": inline_for(kind)}],
                "AttachedManagedPolicies": (
                    [{"PolicyName": "AdministratorAccess", "PolicyArn": ADMIN_ARN}] if kind == "admin" else []
                ),
            }
        )
    admin_policy = {
        "PolicyName": "AdministratorAccess",
        "Arn": ADMIN_ARN,
        "DefaultVersionId": "v1",
        "PolicyVersionList": [
            {
                "Document": document({"Effect": "Allow", "Action": "*", "Resource": "*"}),
                "VersionId": "v1",
                "IsDefaultVersion": True,
            }
        ],
    }
    details = {"UserDetailList": [], "GroupDetailList": [], "RoleDetailList": entries, "Policies": [admin_policy]}
    return details, kinds


def offline(roles: int, admin: int) -> None:
    details, kinds = account(roles, admin)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "account.json"
        path.write_text(json.dumps(details))
        backend = SnapshotBackend(path)
        base: Counter[str] = Counter()
        extra: Counter[str] = Counter()
        counts: Counter[str] = Counter()
        excess_actions: Counter[str] = Counter()
        for arn, kind in kinds.items():
            start = time.perf_counter()
            facts = gather(backend, RoleRef.parse(arn), FLR, APPLIANCE, scope=Scope())
            for requirement in FLR.requirements:
                with contextlib.suppress(CheckError):  # broken is an outcome too: judged all the same
                    judge(requirement, facts, APPLIANCE)
            middle = time.perf_counter()
            excess = excess_for(backend, facts, FLR, Scope())
            end = time.perf_counter()
            backend.exchanges.clear()
            base[kind] += middle - start  # type: ignore[assignment]
            extra[kind] += end - middle  # type: ignore[assignment]
            counts[kind] += 1
            excess_actions[kind] += len(excess.actions)
    print(f"offline, {roles} roles from one snapshot (FLR worker page, {len(FLR.actions)} actions):")
    print(
        f"  {'kind':<10} {'roles':>5} {'verify ms/role':>15} {'+excess ms/role':>16} {'ratio':>6} {'excess/role':>12}"
    )
    for kind in ("exact", "wildcards", "extra", "admin"):
        if counts[kind]:
            n = counts[kind]
            ratio = (base[kind] + extra[kind]) / base[kind]
            print(
                f"  {kind:<10} {n:>5} {1000 * base[kind] / n:>15.2f} {1000 * extra[kind] / n:>16.2f} "
                f"{ratio:>5.2f}x {excess_actions[kind] / n:>12.0f}"
            )
    total_base, total_extra = sum(base.values()), sum(extra.values())
    print(
        f"  all        {roles:>5} {1000 * total_base / roles:>15.2f} {1000 * total_extra / roles:>16.2f} "
        f"{(total_base + total_extra) / total_base:>5.2f}x   (whole run: {total_base:.1f} s without, "
        f"{total_base + total_extra:.1f} s with --excess)"
    )


def live(roles: int) -> None:
    from verification.backends.live import LiveBackend
    from verification.backends.prefetch import PrefetchBackend
    from verification.endpoint import start_endpoint
    from verification.fleet.accounting import ApiCounter

    details, kinds = account(roles, 0)
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
    with start_endpoint(seed=details) as endpoint:
        print(f"live, {roles} roles on the local endpoint (SimulatePrincipalPolicy calls per role):")
        for mode in ("fleet", "per-role"):
            counter = ApiCounter()
            backend: Any = LiveBackend(endpoint_url=endpoint.url, region="us-east-1", counter=counter)
            if mode == "fleet":
                backend = PrefetchBackend(backend)
            without: Counter[str] = Counter()
            added: Counter[str] = Counter()
            seen: Counter[str] = Counter()
            for arn, kind in kinds.items():
                group = "with high-risk excess" if kind == "extra" else "without high-risk excess"
                before = counter.total(operation="iam:SimulatePrincipalPolicy")
                facts = gather(backend, RoleRef.parse(arn), FLR, None, scope=Scope())
                middle = counter.total(operation="iam:SimulatePrincipalPolicy")
                excess_for(backend, facts, FLR, Scope())
                after = counter.total(operation="iam:SimulatePrincipalPolicy")
                backend.exchanges.clear()
                without[group] += middle - before
                added[group] += after - middle
                seen[group] += 1
            for group in ("without high-risk excess", "with high-risk excess"):
                n = seen[group]
                if n:
                    print(
                        f"  {mode:<8} {group:<26} {n:>4} roles: {without[group] / n:.2f} without --excess, "
                        f"{(without[group] + added[group]) / n:.2f} with"
                    )
            every = sum(seen.values())
            extra_calls = sum(added.values())
            print(
                f"  {mode:<8} every API call per role (GetRole, GAAD pages, simulations...): "
                f"{(counter.total() - extra_calls) / every:.2f} without --excess, {counter.total() / every:.2f} with "
                f"({extra_calls} more simulation(s) for {every} roles)"
            )


def suite(roles: int, admin: int, workers: int) -> None:
    """The pytest run itself (``-n workers``) on the same snapshot: --excess off, then report, wall time each."""
    import subprocess

    details, kinds = account(roles, admin)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "account.json"
        path.write_text(json.dumps(details))
        targets = [arg for arn in kinds for arg in ("--role-arn", arn)]
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "PYTEST_"))}
        times: dict[str, float] = {}
        for mode in ("off", "report"):
            command = [sys.executable, "-m", "pytest", str(HERE.parent / "verification" / "suite"), "-q"]
            command += ["-p", "no:cacheprovider", "--snapshot", str(path), *targets, "--excess", mode]
            command += ["-n", str(workers), "--alluredir", f"{folder}/allure-{mode}"]
            command += ["--evidence-dir", f"{folder}/evidence-{mode}"]
            start = time.perf_counter()
            done = subprocess.run(command, cwd=folder, env=env, capture_output=True, text=True, check=False)
            times[mode] = time.perf_counter() - start
            last = done.stdout.strip().splitlines()[-1] if done.stdout.strip() else done.stderr[-300:]
            per_role = 1000 * times[mode] / roles
            print(f"  pytest -n {workers} --excess {mode:<6}: {times[mode]:7.1f} s, {per_role:.1f} ms/role ({last})")
        print(f"  ratio report/off: {times['report'] / times['off']:.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--roles", type=int, default=1000)
    parser.add_argument("--admin", type=int, default=5, help="roles with AdministratorAccess among --roles")
    parser.add_argument("--live-roles", type=int, default=100, help="0 skips the live part")
    parser.add_argument("--suite", action="store_true", help="also time the pytest run itself, --excess off and report")
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    offline(args.roles, args.admin)
    if args.suite:
        print(f"the pytest run, {args.roles} roles from the same snapshot:")
        suite(args.roles, args.admin, args.workers)
    if args.live_roles:
        live(args.live_roles)


if __name__ == "__main__":
    main()
