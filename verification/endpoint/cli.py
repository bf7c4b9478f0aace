"""``python -m verification endpoint --port N [--seed SNAPSHOT]``: serve the local IAM endpoint.

Prints one line with the URL once it accepts requests, then serves until SIGINT or SIGTERM and
exits 0. A bad seed file is one line on stderr naming the file and the fault, and exit status 2.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from pathlib import Path
from types import FrameType

from verification.endpoint.seed import SeedError
from verification.endpoint.server import start_endpoint
from verification.errors import InputError
from verification.snapshot import load_snapshot


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m verification endpoint",
        description="Local IAM endpoint on 127.0.0.1: moto, with Simulate* answered by the policy engine.",
    )
    parser.add_argument("--port", type=int, default=0, help="TCP port (default: 0, a free port)")
    parser.add_argument(
        "--seed",
        type=Path,
        metavar="SNAPSHOT",
        help="account snapshot to load (output of `aws iam get-account-authorization-details`)",
    )
    parser.add_argument(
        "--organization-demo",
        action="store_true",
        help="seed a small AWS Organization (OUs, member accounts with worker roles, a read-only member role) "
        "to try `pytest --organization` and shards without AWS; see docs/organization.md",
    )
    parser.add_argument("--verbose", action="store_true", help="log every request to stderr")
    return parser


def organization_demo(url: str) -> str:
    """Seed the demo organization (fixtures/demo/organization.json); say what is in it and how to verify it."""
    import json
    from importlib.resources import files

    from verification.endpoint.organization import seed_organization

    data = files("verification.fixtures")
    layout = json.loads(data.joinpath("demo", "organization.json").read_text())
    details = json.loads(data.joinpath("demo", "account.json").read_text())
    policy = json.loads(data.joinpath("verifier-policy.json").read_text())
    seeded = seed_organization(url, layout, details, policy)
    accounts = ", ".join(f"{name} {account}" for name, account in seeded.accounts.items())
    ous = ", ".join(f"{path} {ou}" for path, ou in seeded.ous.items())
    appliance = f"arn:aws:iam::{seeded.management}:role/VeeamImpersonation"
    return (
        f"organization: management account {seeded.management}; OUs: {ous}\n"
        f"member accounts: {accounts} ({', '.join(seeded.unassumable)} without the member role)\n"
        "try: AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing pytest --organization "
        f"--member-role {seeded.member_role} --role-name 'VeeamFLRWorker*' --appliance-principal {appliance} "
        f"--endpoint-url {url} --aws-region us-east-1 [--shard 1/2]"
    )


def main(argv: list[str]) -> int:
    """Run the endpoint until SIGINT or SIGTERM; 0 on a clean stop, 2 on bad input."""
    args = _parser().parse_args(argv)
    if not 0 <= args.port <= 65535:
        print(f"endpoint: --port {args.port} is not a TCP port (0-65535)", file=sys.stderr)
        return 2
    details = None
    if args.seed is not None:
        try:
            details = load_snapshot(args.seed).details
        except InputError as error:
            print(f"endpoint: {error}", file=sys.stderr)
            return 2

    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        try:
            endpoint = start_endpoint(args.port, seed=details, quiet=not args.verbose)
        except SeedError as error:
            print(f"endpoint: seed {args.seed}: {error}", file=sys.stderr)
            return 2
        except OSError as error:
            print(f"endpoint: cannot listen on 127.0.0.1:{args.port}: {error.strerror}", file=sys.stderr)
            return 2
        with endpoint:
            if args.organization_demo:
                try:
                    print(organization_demo(endpoint.url), flush=True)
                except SeedError as error:
                    print(f"endpoint: --organization-demo: {error}", file=sys.stderr)
                    return 2
            print(f"IAM endpoint ready at {endpoint.url}", flush=True)
            while not stop.wait(timeout=1.0):
                pass
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 0
