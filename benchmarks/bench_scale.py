"""The nightly run at scale: 1,000 worker roles in 5 accounts on the local endpoint, figures against a baseline.

Setup: the local IAM endpoint runs in this process; roles are seeded straight into moto's backends
(the server is the same process, so no HTTP is spent on seeding). Each account is reached the way
production accounts are: a targets file with one ``role_name: "VeeamWorker*"`` pattern entry per
account and an ``assume_role_arn`` (moto maps the assumed credentials to that account).

Measured in the same run, each pytest in its own subprocess (peak RSS from ``os.wait4``, the largest
single process: controller or worker):

* bare baseline: as many trivial parametrized tests as the verification has items, written to Allure;
* verification with ``-n 2`` and with ``-n 0`` (``--max-rate`` off: the endpoint has no limits);
* API calls per role (from the run's ``api-calls.json``), Allure attachments per role.

Targets: IAM calls per role <= 1.1 in fleet mode (plus one STS call per account and worker); wall time <= 1.5x the
bare baseline; peak RSS <= 1 GiB; ``-n 2`` at least 1.6x faster than ``-n 0``; large evidence
attached once per role. This is a benchmark that prints figures, not a timed test.

On a shared machine another tenant's load can move one run's wall time by a third: ``--repeat N``
alternates the verification and the baseline N times and reports the median ratio, and the CPU
time of both (pytest with its workers, plus the endpoint's) is printed beside it.

    python benchmarks/bench_scale.py [--roles 1000] [--skip-serial] [--repeat N]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SUITE = ROOT / "verification" / "suite"
ACCOUNTS = ("111111111111", "222222222222", "333333333333", "444444444444", "555555555555")
#: An attachment at least this large is "large evidence" (the per-role API exchanges, for example).
LARGE = 4096


@dataclass
class Measured:
    """One subprocess: wall time, the largest process's peak RSS, exit code, output tail, CPU time.

    ``cpu_seconds`` is user + system time of pytest and every process it waited for (xdist workers).
    """

    seconds: float
    peak_rss_mib: float
    returncode: int
    tail: str
    cpu_seconds: float = 0.0


def seed(roles: int) -> None:
    """Create ``roles`` worker roles spread over the accounts, straight in moto's backends."""
    from moto.iam.models import iam_backends

    from verification.requirements import load_requirement_set

    actions = list(load_requirement_set().actions)
    full = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": actions, "Resource": "*"}]})
    short = json.dumps(
        {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": actions[1:], "Resource": "*"}]}
    )
    anywhere = json.dumps(
        {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": "*"}]}
    )
    trusts = {}
    for account in ACCOUNTS:
        trusts[account] = json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"},
                    {"Effect": "Allow", "Principal": {"AWS": appliance_in(account)}, "Action": "sts:AssumeRole"},
                ],
            }
        )
        backend = iam_backends[account]["aws"]
        backend.create_role("VeeamImpersonation", trusts[account], "/", None, "", [], None)
        backend.put_role_policy("VeeamImpersonation", "assume", anywhere)
    for number in range(roles):
        account = ACCOUNTS[number % len(ACCOUNTS)]
        backend = iam_backends[account]["aws"]
        name = f"VeeamWorker{number:04d}"
        backend.create_role(name, trusts[account], "/", None, "", [], None)
        backend.put_role_policy(name, "worker", short if number % 10 == 0 else full)  # every tenth lacks one
        if number % 7:
            backend.create_instance_profile(name, "/", [name])


def warm_up(url: str) -> None:
    """One assumed-role call per account before anything is measured.

    moto builds an account's backends (every AWS managed policy, per partition) on the first request
    that names it: about 4 s in all, which the first measured run would otherwise pay alone.
    """
    import boto3

    sts = boto3.client("sts", endpoint_url=url, region_name="us-east-1")
    for account in ACCOUNTS:
        role = f"arn:aws:iam::{account}:role/RoleVerification"
        creds = sts.assume_role(RoleArn=role, RoleSessionName="warm-up")["Credentials"]
        iam = boto3.client(
            "iam",
            endpoint_url=url,
            region_name="us-east-1",
            aws_access_key_id=creds["AccessKeyId"],
            aws_secret_access_key=creds["SecretAccessKey"],
            aws_session_token=creds["SessionToken"],
        )
        iam.get_role(RoleName="VeeamImpersonation")


def appliance_in(account: str) -> str:
    """The appliance role, in the workers' own account: its side is then simulated too (the most calls)."""
    return f"arn:aws:iam::{account}:role/VeeamImpersonation"


def run(command: list[str], cwd: Path, env: dict[str, str]) -> Measured:
    """Run one pytest; wall time and the largest descendant's peak RSS (Linux reports KiB)."""
    start = time.perf_counter()
    with (cwd / "output.txt").open("w") as out:
        process = subprocess.Popen(command, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - start
    process.returncode = os.waitstatus_to_exitcode(status)
    tail = "\n".join((cwd / "output.txt").read_text(errors="replace").splitlines()[-12:])
    cpu = usage.ru_utime + usage.ru_stime
    return Measured(seconds, usage.ru_maxrss / 1024, process.returncode, tail, cpu)


def clean_env() -> dict[str, str]:
    """The environment of a measured run: no AWS settings of this machine, and Python's bytecode cache on.

    A shell with ``PYTHONDONTWRITEBYTECODE`` makes every run compile (and pytest assertion-rewrite)
    the plugin's modules again, which a user's installed wheel does not do, and the bare baseline
    (pytest and allure-pytest, compiled when installed) does not pay.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "PYTEST_", "BOTO"))}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env.update(
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_DEFAULT_REGION="us-east-1",
        AWS_EC2_METADATA_DISABLED="true",
        AWS_CONFIG_FILE=os.devnull,
        AWS_SHARED_CREDENTIALS_FILE=os.devnull,
    )
    return env


def baseline(folder: Path, items: int, workers: int) -> Measured:
    """Bare pytest: ``items`` trivial parametrized tests, written to Allure, our plugin not loaded."""
    folder.mkdir()
    (folder / "pytest.ini").write_text("[pytest]\n")
    (folder / "test_trivial.py").write_text(
        f"import pytest\n\n\n@pytest.mark.parametrize('n', range({items}))\ndef test_trivial(n):\n    assert n >= 0\n"
    )
    command = [sys.executable, "-m", "pytest", "test_trivial.py", "-q", "-p", "no:cacheprovider"]
    command += ["-p", "no:role_verification", "--alluredir", "allure-results", "-n", str(workers)]
    return run(command + basetemp(folder), folder, clean_env())


def write_targets(folder: Path) -> None:
    """A new folder holding ``targets.json``: one pattern entry per seeded account."""
    folder.mkdir()
    entries = [
        {
            "account": account,
            "role_name": "VeeamWorker*",
            "assume_role_arn": f"arn:aws:iam::{account}:role/RoleVerification",
            "appliance_principal": appliance_in(account),
        }
        for account in ACCOUNTS
    ]
    (folder / "targets.json").write_text(json.dumps({"targets": entries}))


def verification(folder: Path, url: str, workers: int) -> Measured:
    """The suite over every seeded role, from a targets file of one pattern entry per account."""
    write_targets(folder)
    command = [sys.executable, "-m", "pytest", str(SUITE), "-q", "-p", "no:cacheprovider", "--targets", "targets.json"]
    command += ["--endpoint-url", url, "--alluredir", "allure-results", "-n", str(workers)]
    return run(command + basetemp(folder), folder, clean_env())


def basetemp(folder: Path) -> list[str]:
    """Each run's own pytest temporary folder.

    Without it, every ``-n 2`` run (xdist sets up the numbered ``/tmp/pytest-of-USER/pytest-N``) also
    deletes whatever older runs on the machine left there: 11 s of unlinking was measured in one run,
    landing at random on the baseline or the verification.
    """
    return ["--basetemp", str(folder / "basetemp")]


def remediation_checks(folder: Path) -> tuple[int, int, int]:
    """Checked-remediation simulations sent, those answered from an identical check, and failing roles.

    Fleet mode asks an identical check (same policies, same fix) once per account; the others are
    recorded with ``AnsweredFrom`` and cost no call.
    """
    simulations, reused, roles = 0, 0, 0
    for path in folder.glob("reports/evidence/*/roles/*/remediation.json"):
        roles += 1
        for exchange in json.loads(path.read_text())["check"].get("simulations") or ():
            if "AnsweredFrom" in (exchange.get("params") or {}):
                reused += 1
            else:
                simulations += 1
    return simulations, reused, roles


def attachments(results: Path, roles: int) -> tuple[int, int, int]:
    """Attachment files, large ones, and bytes, all per role (attachments are files next to results)."""
    files = [p for p in results.iterdir() if "-attachment" in p.name]
    large = [p for p in files if p.stat().st_size >= LARGE]
    size = sum(p.stat().st_size for p in files)
    return len(files) // max(roles, 1), len(large) // max(roles, 1), size // max(roles, 1)


def items_of(result: Measured) -> int:
    """The number of tests pytest reported as run (passed + failed + errors + skipped)."""
    counts: Counter[str] = Counter()
    last = [line for line in result.tail.splitlines() if " in " in line and ("passed" in line or "failed" in line)]
    for part in (last[-1] if last else "").split(" in ")[0].replace("=", "").split(","):
        bits = part.split()
        if len(bits) == 2 and bits[0].isdigit():
            counts[bits[1]] += int(bits[0])
    return sum(counts.values())


def verdict(ok: bool) -> str:
    return "within" if ok else "OVER"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--roles", type=int, default=1000)
    parser.add_argument("--skip-serial", action="store_true", help="skip the -n 0 run (the slowest)")
    parser.add_argument(
        "--repeat",
        type=int,
        default=1,
        help="alternate the -n 2 verification and the bare baseline this many times; report the median ratio",
    )
    args = parser.parse_args()

    from verification.requirements import load_requirement_set

    per_role = len(load_requirement_set().requirements)
    with tempfile.TemporaryDirectory() as tmp, Endpoint(args.roles) as endpoint:
        folder = Path(tmp)
        print(f"seeded {args.roles} roles in {len(ACCOUNTS)} accounts in {endpoint.seconds:.1f} s")

        expected = args.roles * per_role
        pairs: list[tuple[Measured, Measured, float]] = []
        for rep in range(max(args.repeat, 1)):
            name = "verify-n2" if rep == 0 else f"verify-n2-{rep}"
            before = endpoint.cpu_seconds()
            measured = verification(folder / name, endpoint.url, 2)
            used = endpoint.cpu_seconds() - before
            items = items_of(measured)
            print(
                f"verification -n 2: {measured.seconds:.1f} s, exit {measured.returncode}, {items} tests, "
                f"{measured.cpu_seconds:.1f} CPU-s + the endpoint's {used:.1f}"
            )
            if items != expected:
                print(f"  expected {expected} tests; output tail:\n{measured.tail}")
            measured_bare = baseline(folder / name.replace("verify", "bare"), expected, 2)
            print(
                f"bare baseline -n 2 ({expected} trivial tests, Allure): {measured_bare.seconds:.1f} s, "
                f"{measured_bare.cpu_seconds:.1f} CPU-s"
            )
            pairs.append((measured, measured_bare, used))
        parallel, bare, endpoint_cpu = pairs[0]
        serial = None if args.skip_serial else verification(folder / "verify-n0", endpoint.url, 0)
        bare_serial = None if args.skip_serial else baseline(folder / "bare-n0", expected, 0)
        if serial is not None and bare_serial is not None:
            print(f"verification -n 0: {serial.seconds:.1f} s, exit {serial.returncode}")
            print(f"bare baseline -n 0: {bare_serial.seconds:.1f} s")

        calls: dict[str, dict[str, dict[str, int]]] = json.loads(
            (folder / "verify-n2" / "allure-results" / "api-calls.json").read_text()
        )
        by_operation: Counter[str] = Counter()
        for operations in calls["calls"].values():
            by_operation.update(operations)
        iam = sum(n for op, n in by_operation.items() if op.startswith("iam:") and op != "iam:ListRoles")
        sts = sum(n for op, n in by_operation.items() if op.startswith("sts:"))
        checks, reused, failing = remediation_checks(folder / "verify-n2")
        files, large, size = attachments(folder / "verify-n2" / "allure-results", args.roles)

    ratios = sorted(v.seconds / b.seconds for v, b, _ in pairs)
    ratio = statistics.median(ratios)
    cpu_ratios = sorted((v.cpu_seconds + e) / b.cpu_seconds for v, b, e in pairs)
    print()
    print(f"roles: {args.roles} in {len(ACCOUNTS)} accounts; tests: {expected} ({per_role} per role)")
    if len(pairs) == 1:
        print(f"wall time -n 2:   {parallel.seconds:.1f} s = {ratio:.2f}x the bare baseline ({bare.seconds:.1f} s)")
    else:
        listed = ", ".join(f"{r:.2f}x" for r in ratios)
        print(f"wall time -n 2:   median {ratio:.2f}x the bare baseline over {len(pairs)} alternating pairs ({listed})")
    print(f"  target <= 1.5x: {verdict(ratio <= 1.5)}")
    print(
        f"  CPU time (pytest and its workers, plus the endpoint) against the bare baseline's: median "
        f"{statistics.median(cpu_ratios):.2f}x ({', '.join(f'{r:.2f}x' for r in cpu_ratios)}); less moved by "
        "other work on a shared machine than wall time"
    )
    share = endpoint_cpu / (2 * parallel.seconds)
    print(
        f"  the local endpoint (AWS's side of each call) used {endpoint_cpu:.1f} CPU-s of the same cores during it "
        f"({endpoint_cpu / args.roles * 1000:.0f} ms per role; {share:.0%} of two cores)"
    )
    if serial is not None and bare_serial is not None:
        speedup = serial.seconds / parallel.seconds
        print(
            f"-n 2 vs -n 0:     {speedup:.2f}x faster ({serial.seconds:.1f} s serial); target >= 1.6x: "
            f"{verdict(speedup >= 1.6)}"
        )
        print(
            f"  the bare baseline's own -n 2 vs -n 0: {bare_serial.seconds / bare.seconds:.2f}x "
            f"({bare_serial.seconds:.1f} s serial); the endpoint shares the same cores"
        )
    rss = max(parallel.peak_rss_mib, serial.peak_rss_mib if serial else 0.0)
    print(
        f"peak RSS:         {rss:.0f} MiB largest pytest process (bare baseline {bare.peak_rss_mib:.0f} MiB, "
        f"{rss / bare.peak_rss_mib:.2f}x); target <= 1024 MiB: {verdict(rss <= 1024)}"
    )
    serial_rss = f"; -n 0: {serial.peak_rss_mib:.0f} MiB" if serial is not None else ""
    print(f"  -n 2: {parallel.peak_rss_mib:.0f} MiB (the controller or a worker){serial_rss}")
    verifying = iam - checks
    print(
        f"API calls per role: {verifying / args.roles:.2f} IAM to verify (fleet mode target <= 1.1: "
        f"{verdict(verifying / args.roles <= 1.1)}), plus {checks / args.roles:.2f} checking remediations "
        f"({checks} simulations for {failing} failing roles, {reused} more answered by an identical check); "
        f"STS {sts} in all ({sts / len(ACCOUNTS):.1f} per account); ListRoles is per account, not per role"
    )
    print("  per operation: " + ", ".join(f"{op} {n}" for op, n in sorted(by_operation.items())))
    print(f"Allure attachments per role: {files} files, {large} of >= {LARGE} bytes, {size / 1024:.1f} KiB")
    print(f"  large evidence once per role, not per action: {verdict(large <= 2)}")
    if parallel.returncode not in (0, 1) or (serial is not None and serial.returncode not in (0, 1)):
        print("a verification run did not complete:\n" + parallel.tail)


class Endpoint:
    """The seeded endpoint in a child process, so that the pytest runs fork from a small process.

    (A forked child's peak RSS starts at its parent's size: measured from this script it would
    include the endpoint's memory.)
    """

    def __init__(self, roles: int) -> None:
        start = time.perf_counter()
        command = [sys.executable, __file__, "--serve", str(roles)]
        self.process = subprocess.Popen(
            command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=clean_env()
        )
        assert self.process.stdout is not None
        self.url = self.process.stdout.readline().strip()
        if not self.url.startswith("http://127.0.0.1:"):
            self.close()
            raise SystemExit("the endpoint did not start")
        self.seconds = time.perf_counter() - start

    def cpu_seconds(self) -> float:
        """CPU time the endpoint process has used so far (Linux: utime + stime from /proc)."""
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def close(self) -> None:
        if self.process.stdin is not None:
            self.process.stdin.close()  # the child exits when its stdin closes
        self.process.wait(timeout=60)

    def __enter__(self) -> Endpoint:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


def serve(roles: int) -> None:
    """Child process: start the endpoint, seed it, print its URL, serve until stdin closes."""
    os.environ.update(clean_env())
    from verification.endpoint import start_endpoint

    with start_endpoint() as endpoint:
        seed(roles)
        warm_up(endpoint.url)
        print(endpoint.url, flush=True)
        sys.stdin.read()


if __name__ == "__main__":
    if sys.argv[1:2] == ["--serve"]:
        serve(int(sys.argv[2]))
    else:
        main()
