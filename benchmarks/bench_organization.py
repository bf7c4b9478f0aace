"""An organization at scale: 50 member accounts of 20 worker roles each, 4 shards, then the merge.

The local endpoint (a child process) holds a moto organization of ``--accounts`` member accounts,
created through Organizations' API, each with ``--roles`` worker roles (seeded straight into moto's
backends, as ``bench_scale.py`` does: every tenth lacks an action, every seventh its instance
profile). Each shard is ``pytest --organization --member-role RoleVerification --role-name
'VeeamWorker*' --shard I/N -n 2`` into its own folder; then ``python -m verification merge``.

Printed: API calls per role (Organizations, STS and IAM, from the shards' api-calls.json), wall
time per shard, and the merge's wall time and peak RSS.

    python benchmarks/bench_organization.py [--accounts 50] [--roles 20] [--shards 4]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the checkout, for benchmarks.bench_scale

from benchmarks.bench_scale import SUITE, Measured, basetemp, clean_env, run


def serve(accounts: int, roles: int) -> None:
    """Child process: the organization on the endpoint; prints the URL, serves until stdin closes."""
    os.environ.update(clean_env())
    import boto3
    from moto.iam.models import iam_backends

    from verification.endpoint import start_endpoint
    from verification.requirements import load_requirement_set

    actions = list(load_requirement_set().actions)
    full = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": actions, "Resource": "*"}]})
    short = json.dumps(
        {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": actions[1:], "Resource": "*"}]}
    )
    trust = json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}
            ],
        }
    )
    with start_endpoint() as endpoint:
        org = boto3.client("organizations", endpoint_url=endpoint.url, region_name="us-east-1")
        org.create_organization(FeatureSet="ALL")
        root = org.list_roots()["Roots"][0]["Id"]
        units = [org.create_organizational_unit(ParentId=root, Name=n)["OrganizationalUnit"]["Id"] for n in ("A", "B")]
        for number in range(accounts):
            status = org.create_account(AccountName=f"member{number:03d}", Email=f"m{number}@example.com")
            account = status["CreateAccountStatus"]["AccountId"]
            org.move_account(AccountId=account, SourceParentId=root, DestinationParentId=units[number % 2])
            backend = iam_backends[account]["aws"]
            for index in range(roles):
                name = f"VeeamWorker{index:02d}"
                backend.create_role(name, trust, "/", None, "", [], None)
                backend.put_role_policy(name, "worker", short if index % 10 == 0 else full)
                if index % 7:
                    backend.create_instance_profile(name, "/", [name])
        print(endpoint.url, flush=True)
        sys.stdin.read()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=50)
    parser.add_argument("--roles", type=int, default=20)
    parser.add_argument("--shards", type=int, default=4)
    args = parser.parse_args()
    start = time.perf_counter()
    child = subprocess.Popen(
        [sys.executable, __file__, "--serve", str(args.accounts), str(args.roles)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=clean_env(),
    )
    assert child.stdout is not None and child.stdin is not None
    url = child.stdout.readline().strip()
    if not url.startswith("http://127.0.0.1:"):
        raise SystemExit("the endpoint did not start")
    print(f"seeded {args.accounts} accounts x {args.roles} roles in {time.perf_counter() - start:.1f} s")
    try:
        with tempfile.TemporaryDirectory() as tmp:
            root = Path(tmp)
            shards: list[Path] = []
            calls: Counter[str] = Counter()
            tests = 0
            for index in range(1, args.shards + 1):
                folder = root / f"shard-{index}"
                folder.mkdir()
                command = [sys.executable, "-m", "pytest", str(SUITE), "-q", "-p", "no:cacheprovider", "--organization"]
                command += ["--member-role", "RoleVerification", "--role-name", "VeeamWorker*", "--endpoint-url", url]
                command += ["--shard", f"{index}/{args.shards}", "-n", "2", "--alluredir", "allure-results"]
                command += ["--evidence-dir", "evidence", *basetemp(folder)]
                measured: Measured = run(command, folder, clean_env())
                if measured.returncode not in (0, 1):
                    raise SystemExit(f"shard {index}: pytest exited {measured.returncode}:\n{measured.tail}")
                for account in json.loads((folder / "allure-results" / "api-calls.json").read_text())["calls"].values():
                    calls.update(account)
                roles = len(json.loads((folder / "evidence" / "run.json").read_text())["roles"])
                results = len(list((folder / "allure-results").glob("*-result.json")))
                tests += results
                print(
                    f"shard {index}/{args.shards}: {roles} roles, {results} results, wall {measured.seconds:.1f} s, "
                    f"CPU {measured.cpu_seconds:.1f} s, peak RSS {measured.peak_rss_mib:.0f} MiB"
                )
                shards.append(folder)
            merged = run(
                [sys.executable, "-m", "verification", "merge", "--out", str(root / "merged"), *map(str, shards)],
                root,
                clean_env(),
            )
            if merged.returncode != 0:
                raise SystemExit(f"merge failed:\n{merged.tail}")
            total_roles = args.accounts * args.roles
            iam = sum(n for op, n in calls.items() if op.startswith("iam:"))
            print(
                f"merge: {tests} results, wall {merged.seconds:.1f} s, CPU {merged.cpu_seconds:.1f} s, "
                f"peak RSS {merged.peak_rss_mib:.0f} MiB"
            )
            spent = sum(calls.values())
            print(
                f"API calls: {spent} for {total_roles} roles ({spent / total_roles:.2f} per role; "
                f"IAM {iam / total_roles:.2f} per role)"
            )
            print("  per operation: " + ", ".join(f"{op} {n}" for op, n in sorted(calls.items())))
    finally:
        child.stdin.close()
        child.wait(timeout=60)


if __name__ == "__main__":
    if sys.argv[1:2] == ["--serve"]:
        serve(int(sys.argv[2]), int(sys.argv[3]))
    else:
        main()
